"""The Envoy bootstrap of the REST gateway: a pure function from settings to a document.

REST is not implemented in Python: Envoy's gRPC-JSON transcoder turns each request into a
call to the controller's gRPC services following their `google.api.http` annotations, so
the REST API cannot drift from the gRPC one. Kept pure (settings, upstream address and
descriptor bytes in; a dict out) so it is golden-tested and `envoy --mode validate`-d
without running anything.

Choices, each toward what grpc-gateway clients expect:
- JSON prints proto field names and every unpopulated field (`preserve_proto_field_names`,
  `always_print_primitive_fields`), the grpc-gateway defaults.
- `convert_grpc_status`: a gRPC error becomes a `google.rpc.Status` JSON body, with the
  HTTP code Envoy maps from the gRPC code (INVALID_ARGUMENT 400, UNAUTHENTICATED 401,
  NOT_FOUND 404, UNAVAILABLE 503, ...), and the details the controller attached.
- Unknown methods and unknown query parameters are refused rather than passed to the
  controller as raw HTTP, so a typo fails loudly.
- A buffer filter in front caps request bodies (413): the transcoder would otherwise
  buffer whatever it is sent.
- Replies Envoy makes itself (malformed JSON, unknown path or query parameter, body too
  large, controller unreachable) are plain text by default; a local reply mapper writes
  them as `google.rpc.Status` JSON too, with the gRPC code that HTTP status stands for,
  so a client parses every error one way.
"""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

from tc.gateway.descriptors import TRANSCODED_SERVICES
from tc.gateway.settings import GatewaySettings, split_address

CLUSTER = "controller"
# The two server-streaming RPCs: a route timeout would cut every watch after it.
STREAMING_PATHS = ("/tc.v1.IntentService/WatchIntents", "/tc.v1.LifecycleService/WatchEvents")

_TYPES = "type.googleapis.com/envoy.extensions"


def _socket_address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _route(match: dict[str, Any], timeout: str) -> dict[str, Any]:
    return {"match": match, "route": {"cluster": CLUSTER, "timeout": timeout}}


# HTTP status of a reply Envoy makes itself -> the gRPC code it stands for (the inverse of
# the gRPC -> HTTP mapping the transcoder applies to the controller's own errors).
LOCAL_REPLY_CODES = {
    400: 3,  # INVALID_ARGUMENT: malformed JSON, unknown query parameter
    401: 16,  # UNAUTHENTICATED
    403: 7,  # PERMISSION_DENIED
    404: 5,  # NOT_FOUND: no method for this path and verb
    408: 4,  # DEADLINE_EXCEEDED
    413: 8,  # RESOURCE_EXHAUSTED: body over max_request_bytes, as gRPC calls a message too big
    429: 8,  # RESOURCE_EXHAUSTED
    500: 13,  # INTERNAL
    502: 14,  # UNAVAILABLE
    503: 14,  # UNAVAILABLE: the controller cannot be reached
    504: 4,  # DEADLINE_EXCEEDED: request_timeout_seconds passed
}
UNKNOWN = 2


def _status_json(code: int) -> dict[str, Any]:
    return {"json_format": {"code": code, "message": "%LOCAL_REPLY_BODY%", "details": []}}


def local_reply_config() -> dict[str, Any]:
    # Envoy's own 200s (the OpenAPI document, a direct response) are local replies too:
    # passed through as they are, not wrapped as an error.
    as_is = {
        "filter": {
            "status_code_filter": {
                "comparison": {
                    "op": "EQ",
                    "value": {"default_value": 200, "runtime_key": "tc_gateway.local_reply.200"},
                }
            }
        },
        "body_format_override": {
            "text_format": "%LOCAL_REPLY_BODY%",
            "content_type": "application/json",
        },
    }
    return {
        "mappers": [
            as_is,
            *(
                {
                    "filter": {
                        "status_code_filter": {
                            "comparison": {
                                "op": "EQ",
                                "value": {
                                    "default_value": http_status,
                                    "runtime_key": f"tc_gateway.local_reply.{http_status}",
                                },
                            }
                        }
                    },
                    "body_format_override": _status_json(grpc_code),
                }
                for http_status, grpc_code in LOCAL_REPLY_CODES.items()
            ),
        ],
        "body_format": _status_json(UNKNOWN),
    }


def transcoder(descriptor: bytes) -> dict[str, Any]:
    return {
        "@type": f"{_TYPES}.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
        "proto_descriptor_bin": base64.b64encode(descriptor).decode("ascii"),
        "services": list(TRANSCODED_SERVICES),
        "print_options": {
            "preserve_proto_field_names": True,
            "always_print_primitive_fields": True,
        },
        "convert_grpc_status": True,
        "request_validation_options": {
            "reject_unknown_method": True,
            "reject_unknown_query_parameters": True,
        },
    }


def _downstream_tls(settings: GatewaySettings) -> dict[str, Any]:
    """The listener's TLS (HTTPS, HTTP/1.1 and h2 by ALPN), or nothing for plaintext."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return {}
    return {
        "transport_socket": {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": f"{_TYPES}.transport_sockets.tls.v3.DownstreamTlsContext",
                "common_tls_context": {
                    "alpn_protocols": ["h2", "http/1.1"],
                    "tls_certificates": [
                        {
                            "certificate_chain": {"filename": str(settings.tls_cert_file)},
                            "private_key": {"filename": str(settings.tls_key_file)},
                        }
                    ],
                },
            },
        }
    }


def _upstream_tls(settings: GatewaySettings) -> dict[str, Any]:
    """TLS to the controller's gRPC port (HTTP/2 by ALPN), or nothing for plaintext."""
    if settings.upstream_ca_file is None:
        return {}
    context: dict[str, Any] = {
        "alpn_protocols": ["h2"],
        "validation_context": {
            "trusted_ca": {"filename": str(settings.upstream_ca_file)},
            "match_typed_subject_alt_names": [
                {"san_type": "DNS", "matcher": {"exact": settings.upstream_server_name}}
            ],
        },
    }
    if settings.upstream_cert_file is not None and settings.upstream_key_file is not None:
        context["tls_certificates"] = [
            {
                "certificate_chain": {"filename": str(settings.upstream_cert_file)},
                "private_key": {"filename": str(settings.upstream_key_file)},
            }
        ]
    return {
        "transport_socket": {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": f"{_TYPES}.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": settings.upstream_server_name,
                "common_tls_context": context,
            },
        }
    }


def openapi_route(document: str) -> dict[str, Any]:
    """GET /openapi.json answered by Envoy itself: the document is fixed for a build, so
    it needs no round trip to the controller (and the transcoder, which would refuse the
    path as an unknown method, is off on this route)."""
    return {
        "match": {"path": "/openapi.json", "headers": [_METHOD_GET]},
        "direct_response": {"status": 200, "body": {"inline_string": document}},
        "response_headers_to_add": [
            {"header": {"key": "content-type", "value": "application/json"}}
        ],
        "typed_per_filter_config": {
            "envoy.filters.http.grpc_json_transcoder": {
                "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
                "disabled": True,
            }
        },
    }


_METHOD_GET = {"name": ":method", "string_match": {"exact": "GET"}}


def bootstrap(
    settings: GatewaySettings, upstream: str, descriptor: bytes, openapi: str | None = None
) -> dict[str, Any]:
    """The whole bootstrap; `upstream` is the controller's gRPC host:port; `openapi`, the
    OpenAPI document served at /openapi.json (not served when None)."""
    listen_host, listen_port = split_address(settings.listen_address)
    upstream_host, upstream_port = split_address(upstream)
    unary_timeout = f"{settings.request_timeout_seconds:g}s"
    connection_manager = {
        "@type": f"{_TYPES}.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "rest",
        "codec_type": "AUTO",
        "normalize_path": True,
        "merge_slashes": True,
        "local_reply_config": local_reply_config(),
        "route_config": {
            "name": "rest",
            # Envoy caps inline direct-response bodies at 4 KiB unless told otherwise.
            "max_direct_response_body_size_bytes": max(4096, len((openapi or "").encode())),
            "virtual_hosts": [
                {
                    "name": "controller",
                    "domains": ["*"],
                    # Matched after transcoding, on the gRPC path the transcoder wrote.
                    "routes": [
                        *([openapi_route(openapi)] if openapi is not None else []),
                        *(_route({"path": path}, "0s") for path in STREAMING_PATHS),
                        _route({"prefix": "/"}, unary_timeout),
                    ],
                }
            ],
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.buffer",
                "typed_config": {
                    "@type": f"{_TYPES}.filters.http.buffer.v3.Buffer",
                    "max_request_bytes": settings.max_request_bytes,
                },
            },
            {
                "name": "envoy.filters.http.grpc_json_transcoder",
                "typed_config": transcoder(descriptor),
            },
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": f"{_TYPES}.filters.http.router.v3.Router"},
            },
        ],
    }
    return {
        "node": {"id": "tc-gateway", "cluster": "traffic-controller"},
        # Loopback and port 0: only the gateway process reads it (/ready, /listeners).
        "admin": {"address": _socket_address("127.0.0.1", 0)},
        # A bound on open connections, so a flood cannot exhaust file descriptors.
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": f"{_TYPES}.resource_monitors.downstream_connections.v3"
                        ".DownstreamConnectionsConfig",
                        "max_active_downstream_connections": settings.max_connections,
                    },
                }
            ]
        },
        "static_resources": {
            "listeners": [
                {
                    "name": "rest",
                    "address": _socket_address(listen_host, listen_port),
                    "filter_chains": [
                        {
                            **_downstream_tls(settings),
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": connection_manager,
                                }
                            ],
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": CLUSTER,
                    "type": "STATIC" if _is_ip(upstream_host) else "STRICT_DNS",
                    "connect_timeout": "1s",
                    **_upstream_tls(settings),
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": f"{_TYPES}.upstreams.http.v3.HttpProtocolOptions",
                            "explicit_http_config": {"http2_protocol_options": {}},
                        }
                    },
                    "load_assignment": {
                        "cluster_name": CLUSTER,
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": _socket_address(upstream_host, upstream_port)
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                }
            ],
        },
    }

"""The FileDescriptorSet Envoy's gRPC-JSON transcoder routes by, built from the generated code.

The transcoder needs every .proto file of the transcoded services with their
`google.api.http` options, plus every file they import. The generated modules already hold
each file's serialized FileDescriptorProto (options included), so the set is assembled at
run time from them: no protoc, no `.pb` file to keep in step with the stubs.

google/rpc/error_details.proto is in the set too, though no service imports it: the
controller attaches a `google.rpc.BadRequest` to INVALID_ARGUMENT, and the transcoder can
print a status as JSON only when it knows every type packed in its details (without it the
400 went out as an empty body with content-type application/grpc).
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FileDescriptor
from google.rpc import error_details_pb2, status_pb2

from tc._proto.tc.v1 import intent_pb2, lifecycle_pb2

# The services clients call over REST; PluginService is the controller's own back end.
TRANSCODED_SERVICES = (
    intent_pb2.DESCRIPTOR.services_by_name["IntentService"].full_name,
    lifecycle_pb2.DESCRIPTOR.services_by_name["LifecycleService"].full_name,
)


def _in_dependency_order(roots: Iterable[FileDescriptor]) -> list[FileDescriptor]:
    # protoc's own order (imports before importers): a descriptor pool, Envoy's included,
    # may refuse a file whose imports it has not seen yet.
    ordered: list[FileDescriptor] = []
    seen: set[str] = set()

    def visit(file: FileDescriptor) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            visit(dependency)
        ordered.append(file)

    for root in roots:
        visit(root)
    return ordered


def descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    """Every file the transcoded services need, imports first, options kept."""
    files = _in_dependency_order(
        [
            intent_pb2.DESCRIPTOR,
            lifecycle_pb2.DESCRIPTOR,
            status_pb2.DESCRIPTOR,
            error_details_pb2.DESCRIPTOR,
        ]
    )
    return descriptor_pb2.FileDescriptorSet(
        file=[descriptor_pb2.FileDescriptorProto.FromString(f.serialized_pb) for f in files]
    )


def descriptor_set_bytes() -> bytes:
    """The serialized set, ready for the transcoder's `proto_descriptor_bin`."""
    serialized: bytes = descriptor_set().SerializeToString(deterministic=True)
    return serialized

"""The client commands (apply, get, delete, status, drain, events): one function per
command, each taking the parsed arguments and returning the exit code.

They talk to the controller only through ControllerClient, so every failure arrives as a
CliError that main() prints as one line.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

import grpc

from tc._proto.tc.v1 import intent_pb2, lifecycle_pb2
from tc.cli import enums, output
from tc.cli.client import ControllerClient, Security
from tc.cli.documents import STDIN, DocumentErrors, load_documents
from tc.cli.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REQUEST,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CliError,
)

_APPLY_RESULT = intent_pb2.ApplyResult.DESCRIPTOR
_WAIT_FIRST_POLL_SECONDS = 0.1
_WAIT_MAX_POLL_SECONDS = 1.0
# The controller answers a Drain shortly before the wait ends; the call's deadline leaves
# room beyond it for the answer to travel.
_DRAIN_DEADLINE_MARGIN_SECONDS = 5.0


def _client(args: argparse.Namespace, timeout: float | None = None) -> ControllerClient:
    security = Security(
        token_file=args.token_file,
        ca_file=args.tls_ca_file,
        cert_file=args.tls_client_cert_file,
        key_file=args.tls_client_key_file,
        server_name=args.tls_server_name,
        tls=args.tls,
    )
    return ControllerClient(args.server, args.timeout if timeout is None else timeout, security)


def _report(error: CliError) -> None:
    print(f"error: {error.message}", file=sys.stderr, flush=True)


def apply(args: argparse.Namespace) -> int:
    """`tcctl apply -f FILE...`: create or update every intent, report each like kubectl."""
    paths: list[str] = args.filename
    if paths.count(STDIN) > 1:
        raise CliError("stdin (-) can be given only once", EXIT_USAGE)
    try:
        documents = load_documents(paths, sys.stdin)
    except DocumentErrors as errors:
        # Nothing is applied: half a file applied because of a typo further down is harder
        # to recover from than a file rejected as a whole.
        for error in errors.errors:
            print(f"error: {error}", file=sys.stderr)
        return EXIT_REQUEST
    if not documents:
        raise CliError(f"no intents found in {', '.join(paths)}")
    failed = False
    with _client(args) as client:
        for document in documents:
            name = document.intent.name
            subject = f"intent/{name}" if name else f"intent in {document.location}"
            try:
                response = client.call(
                    client.intents.ApplyIntent,
                    intent_pb2.ApplyIntentRequest(intent=document.intent),
                    subject,
                )
            except CliError as error:
                if error.exit_code == EXIT_UNREACHABLE:
                    raise
                _report(error)
                failed = True
                continue
            result = enums.short_name(_APPLY_RESULT, response.result).lower()
            if response.result == intent_pb2.APPLY_RESULT_UNSPECIFIED:
                result = "applied"
            print(f"intent/{response.intent.name or name} {result}", flush=True)
    return EXIT_REQUEST if failed else EXIT_OK


def get(args: argparse.Namespace) -> int:
    """`tcctl get intents [NAME...]`: a table, or the intents' protojson as YAML or JSON."""
    names: list[str] = args.names
    if args.resource in ("microservices", "microservice"):
        return _get_microservices(args, names)
    selector = parse_selector(args.selector) if args.selector else ""
    if names and selector:
        raise CliError("a name and a label selector (-l) cannot be used together", EXIT_USAGE)
    intents: list[intent_pb2.Intent] = []
    failed = False
    with _client(args) as client:
        if names:
            for name in names:
                try:
                    response = client.call(
                        client.intents.GetIntent,
                        intent_pb2.GetIntentRequest(name=name),
                        f"intent/{name}",
                    )
                except CliError as error:
                    if error.exit_code == EXIT_UNREACHABLE:
                        raise
                    _report(error)
                    failed = True
                    continue
                intents.append(response.intent)
        else:
            intents = list_intents(client, selector)
    if args.output == "table":
        if intents:
            sys.stdout.write(output.render(output.intents_table(intents, output.now_utc())))
        elif not failed:
            print("No intents found.", file=sys.stderr)
    elif intents or not failed:
        data = output.intents_data(intents, single=len(names) == 1)
        sys.stdout.write(output.dump(data, args.output))
    return EXIT_REQUEST if failed else EXIT_OK


def _get_microservices(args: argparse.Namespace, services: list[str]) -> int:
    """`tcctl get microservices [SERVICE...]`: every checked endpoint and its health."""
    if args.selector:
        raise CliError("a label selector (-l) applies to intents, not micro-services", EXIT_USAGE)
    found: list[lifecycle_pb2.Microservice] = []
    with _client(args) as client:
        for service in services or [""]:

            def fetch(
                token: str, service: str = service
            ) -> lifecycle_pb2.ListMicroservicesResponse:
                return client.call(
                    client.lifecycle.ListMicroservices,
                    lifecycle_pb2.ListMicroservicesRequest(service=service, page_token=token),
                    "microservices",
                )

            for page in follow_pages(fetch, "microservices"):
                found.extend(page.microservices)
    if args.output != "table":
        data = [output.message_to_dict(m) for m in found]
        sys.stdout.write(output.dump(data, args.output))
    elif found:
        sys.stdout.write(output.render(output.microservices_table(found, output.now_utc())))
    else:
        print("No checked micro-services found.", file=sys.stderr)
    return EXIT_OK


class _Page(Protocol):
    @property
    def next_page_token(self) -> str: ...


P = TypeVar("P", bound=_Page)


def follow_pages(fetch: Callable[[str], P], what: str) -> Iterator[P]:
    """Every page `fetch(page_token)` answers, from the first to the last."""
    token = ""
    seen: set[str] = set()
    while True:
        page = fetch(token)
        yield page
        token = page.next_page_token
        if not token:
            return
        # A server handing out a token twice would otherwise keep tcctl paging forever.
        if token in seen:
            raise CliError(f"{what}: the controller repeated a page token")
        seen.add(token)


def list_intents(client: ControllerClient, selector: str) -> list[intent_pb2.Intent]:
    """Every intent matching `selector`, following next_page_token to the last page."""

    def fetch(token: str) -> intent_pb2.ListIntentsResponse:
        return client.call(
            client.intents.ListIntents,
            # page_size 0: the server's default page, sized to its message limits.
            intent_pb2.ListIntentsRequest(page_token=token, label_selector=selector),
            "list intents",
        )

    return [i for page in follow_pages(fetch, "list intents") for i in page.intents]


def parse_selector(text: str) -> str:
    """`key=value,key2=value2` checked and normalised; a malformed one is a usage error."""
    pairs: list[str] = []
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or "=" in value:
            raise CliError(
                f"invalid label selector {text!r}: expected key=value[,key=value...]",
                EXIT_USAGE,
            )
        pairs.append(f"{key}={value}")
    return ",".join(pairs)


def delete(args: argparse.Namespace) -> int:
    """`tcctl delete intent NAME...`: mark intents deleting; --wait until they are gone."""
    names: list[str] = args.names
    failed = False
    deleted: list[str] = []
    with _client(args) as client:
        for name in names:
            try:
                client.call(
                    client.intents.DeleteIntent,
                    intent_pb2.DeleteIntentRequest(name=name),
                    f"intent/{name}",
                )
            except CliError as error:
                if error.exit_code == EXIT_UNREACHABLE:
                    raise
                _report(error)
                failed = True
                continue
            print(f"intent/{name} deleted", flush=True)
            deleted.append(name)
        if args.wait:
            deadline = time.monotonic() + args.wait_timeout
            for name in deleted:
                if not _wait_gone(client, name, deadline, args.wait_timeout):
                    failed = True
    return EXIT_REQUEST if failed else EXIT_OK


def _wait_gone(client: ControllerClient, name: str, deadline: float, budget: float) -> bool:
    """Poll until the intent is NOT_FOUND; False (reported) when the deadline passes."""
    interval = _WAIT_FIRST_POLL_SECONDS
    subject = f"intent/{name}"
    while True:
        try:
            response = client.call(
                client.intents.GetIntent, intent_pb2.GetIntentRequest(name=name), subject
            )
        except CliError as error:
            if error.code == grpc.StatusCode.NOT_FOUND:
                return True
            raise
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _, message = output.readiness(response.intent)
            detail = f" ({message})" if message else ""
            _report(CliError(f"timed out after {budget:g}s waiting for {subject} to go{detail}"))
            return False
        time.sleep(min(interval, remaining))
        interval = min(interval * 2, _WAIT_MAX_POLL_SECONDS)


def status(args: argparse.Namespace) -> int:
    """`tcctl status`: the controller, its plugin instances and the orchestrator link."""
    with _client(args) as client:
        response = client.call(
            client.lifecycle.GetStatus, lifecycle_pb2.GetStatusRequest(), "status"
        )
    if args.output == "table":
        sys.stdout.write(output.status_text(response, output.now_utc()))
    else:
        sys.stdout.write(output.dump(output.message_to_dict(response), args.output))
    return EXIT_OK


def drain(args: argparse.Namespace) -> int:
    """`tcctl drain`: refuse new changes, wait for queued work; non-zero if work is left."""
    wait: float = args.timeout
    request = lifecycle_pb2.DrainRequest(wait=True)
    request.timeout.FromNanoseconds(int(wait * 1e9))
    with _client(args, timeout=wait + _DRAIN_DEADLINE_MARGIN_SECONDS) as client:
        response = client.call(client.lifecycle.Drain, request, "drain")
    if args.output == "table":
        sys.stdout.write(output.drain_text(response, wait))
    else:
        sys.stdout.write(output.dump(output.message_to_dict(response), args.output))
    return EXIT_OK if response.drained else EXIT_REQUEST


def events(args: argparse.Namespace) -> int:
    """`tcctl events`: print controller events as they happen, until Ctrl-C or --count."""
    count: int | None = args.count
    render = output.event_json if args.output == "json" else output.event_line
    seen = 0
    stream_open = False
    with _client(args) as client:
        # No deadline: the stream lasts as long as the user wants it. An unreachable
        # controller still fails at once (the call does not wait for a connection).
        stream = client.lifecycle.WatchEvents(lifecycle_pb2.WatchEventsRequest(types=args.types))
        try:
            # The controller sends headers once it has subscribed; saying so on stderr lets
            # a script (or a test) act only when no event can be missed any more.
            stream.initial_metadata()
            stream_open = stream.is_active()
            if stream_open:
                print("watching events (Ctrl-C to stop)", file=sys.stderr, flush=True)
            for event in stream:
                sys.stdout.write(render(event))
                sys.stdout.flush()
                seen += 1
                if count is not None and seen >= count:
                    break
        except grpc.RpcError as error:
            if seen or stream_open:
                # It was connected: "cannot reach" would mislead; the controller went away
                # (a restart ends every stream) and a script may simply start again.
                raise CliError(
                    f"events: the controller ended the stream: {_describe(error)}",
                    EXIT_UNREACHABLE,
                ) from None
            raise client.error(error, "events") from None
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        finally:
            stream.cancel()
    if count is not None and seen < count:
        raise CliError(f"events: the stream ended after {seen} of {count} events")
    return EXIT_OK


def _describe(error: grpc.RpcError) -> str:
    if isinstance(error, grpc.Call):
        return f"{error.code().name}: {error.details() or ''}".rstrip(": ")
    return str(error)

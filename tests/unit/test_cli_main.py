"""`tcctl` end to end against a real gRPC server in this process.

The server is a test double of the controller (FakeIntents, FakeLifecycle: the generated
servicer base classes over a dict), because the point is the CLI: its arguments, the
requests it sends, what it prints and its exit codes. The wire between them is real.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from tc._proto.tc.v1 import intent_pb2, intent_pb2_grpc, lifecycle_pb2, lifecycle_pb2_grpc
from tc.cli import serve
from tc.cli.main import build_parser, main

_OUTPUT_ONLY = ("generation", "uid", "create_time", "update_time", "delete_time", "status")


class FakeIntents(intent_pb2_grpc.IntentServiceServicer):
    """Test double of the controller's IntentService: intents in a dict, pages of two."""

    def __init__(self) -> None:
        self.intents: dict[str, intent_pb2.Intent] = {}
        self.lock = threading.Lock()
        self.page_size = 2
        self.list_requests: list[intent_pb2.ListIntentsRequest] = []
        # name -> GetIntent calls still answered after a delete before the intent is gone.
        self.polls_before_gone: dict[str, int] = {}
        self.polls_after_delete = 2

    def ApplyIntent(
        self, request: intent_pb2.ApplyIntentRequest, context: grpc.ServicerContext
    ) -> intent_pb2.ApplyIntentResponse:
        desired = intent_pb2.Intent()
        desired.CopyFrom(request.intent)
        for field in _OUTPUT_ONLY:
            desired.ClearField(field)
        if not desired.name:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "name: required")
        if desired.name.startswith("bad"):
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "service.ports[0].number: must be 1..65535"
            )
        with self.lock:
            stored = self.intents.get(desired.name)
            if stored is None:
                result = intent_pb2.APPLY_RESULT_CREATED
                stored = intent_pb2.Intent(generation=1)
                stored.create_time.GetCurrentTime()
            else:
                current = intent_pb2.Intent()
                current.CopyFrom(stored)
                for field in _OUTPUT_ONLY:
                    current.ClearField(field)
                if current == desired:
                    return intent_pb2.ApplyIntentResponse(
                        intent=stored, result=intent_pb2.APPLY_RESULT_UNCHANGED
                    )
                result = intent_pb2.APPLY_RESULT_CONFIGURED
                stored.generation += 1
            generation, created = stored.generation, stored.create_time
            stored = intent_pb2.Intent()
            stored.CopyFrom(desired)
            stored.generation = generation
            stored.create_time.CopyFrom(created)
            self.intents[desired.name] = stored
            return intent_pb2.ApplyIntentResponse(intent=stored, result=result)

    def GetIntent(
        self, request: intent_pb2.GetIntentRequest, context: grpc.ServicerContext
    ) -> intent_pb2.GetIntentResponse:
        with self.lock:
            if request.name in self.polls_before_gone:
                self.polls_before_gone[request.name] -= 1
                if self.polls_before_gone[request.name] < 0:
                    del self.polls_before_gone[request.name]
                    del self.intents[request.name]
            intent = self.intents.get(request.name)
        if intent is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"intent {request.name!r} not found")
        return intent_pb2.GetIntentResponse(intent=intent)

    def ListIntents(
        self, request: intent_pb2.ListIntentsRequest, context: grpc.ServicerContext
    ) -> intent_pb2.ListIntentsResponse:
        self.list_requests.append(request)
        wanted = dict(pair.split("=", 1) for pair in request.label_selector.split(",") if pair)
        with self.lock:
            matching = [
                self.intents[name]
                for name in sorted(self.intents)
                if all(self.intents[name].labels.get(k) == v for k, v in wanted.items())
            ]
        start = int(request.page_token or 0)
        end = start + self.page_size
        return intent_pb2.ListIntentsResponse(
            intents=matching[start:end],
            next_page_token=str(end) if end < len(matching) else "",
        )

    def DeleteIntent(
        self, request: intent_pb2.DeleteIntentRequest, context: grpc.ServicerContext
    ) -> intent_pb2.DeleteIntentResponse:
        with self.lock:
            intent = self.intents.get(request.name)
            if intent is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"intent {request.name!r} not found")
            intent.delete_time.GetCurrentTime()
            self.polls_before_gone[request.name] = self.polls_after_delete
        return intent_pb2.DeleteIntentResponse(intent=intent)


class FakeLifecycle(lifecycle_pb2_grpc.LifecycleServiceServicer):
    """Test double of the controller's LifecycleService, with switchable failures."""

    def __init__(self) -> None:
        self.failure: tuple[grpc.StatusCode, str] | None = None
        self.stall = False
        self.release = threading.Event()

    def GetStatus(
        self, request: lifecycle_pb2.GetStatusRequest, context: grpc.ServicerContext
    ) -> lifecycle_pb2.GetStatusResponse:
        if self.stall:
            self.release.wait(5)
        if self.failure is not None:
            context.abort(*self.failure)
        return lifecycle_pb2.GetStatusResponse(
            controller=lifecycle_pb2.ControllerStatus(
                state=lifecycle_pb2.CONTROLLER_STATE_SERVING,
                address="127.0.0.1:50051",
                intents=2,
            ),
            plugins=[
                lifecycle_pb2.PluginKindStatus(
                    name="recorder",
                    instances=[
                        lifecycle_pb2.PluginInstanceStatus(
                            id="recorder-0",
                            pid=101,
                            address="127.0.0.1:40001",
                            state=lifecycle_pb2.INSTANCE_STATE_READY,
                        )
                    ],
                )
            ],
        )


@dataclass
class Controller:
    address: str
    intents: FakeIntents
    lifecycle: FakeLifecycle


@pytest.fixture
def controller(monkeypatch: pytest.MonkeyPatch) -> Iterator[Controller]:
    monkeypatch.delenv("TC_SERVER", raising=False)
    executor = ThreadPoolExecutor(max_workers=4)
    server = grpc.server(executor)
    # The stubs mark every RPC abstract; at run time the base class answers UNIMPLEMENTED for
    # the ones a double leaves out, which is what these doubles rely on.
    intents, lifecycle = FakeIntents(), FakeLifecycle()  # type: ignore[abstract]
    intent_pb2_grpc.add_IntentServiceServicer_to_server(intents, server)
    lifecycle_pb2_grpc.add_LifecycleServiceServicer_to_server(lifecycle, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield Controller(f"127.0.0.1:{port}", intents, lifecycle)
    lifecycle.release.set()
    server.stop(None).wait()
    executor.shutdown()


@pytest.fixture
def unused_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def run(
    capsys: pytest.CaptureFixture[str], controller: Controller | str, *args: str
) -> tuple[int, str, str]:
    address = controller if isinstance(controller, str) else controller.address
    code = main([*args, "--server", address])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


TWO_INTENTS = """\
name: web
labels: {team: shop}
service:
  hosts: [web.example.com]
  ports: [{number: 80, protocol: http}]
---
name: names
dns:
  zone: example.com
  records: [{name: www, type: cname, values: [web]}]
"""


@pytest.fixture
def intents_file(tmp_path: Path) -> Path:
    path = tmp_path / "intents.yaml"
    path.write_text(TWO_INTENTS, encoding="utf-8")
    return path


def test_apply_prints_created_then_unchanged_then_configured(
    controller: Controller, intents_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, controller, "apply", "-f", str(intents_file)) == (
        0,
        "intent/web created\nintent/names created\n",
        "",
    )
    stored = controller.intents.intents["web"]
    assert stored.service.ports[0].protocol == intent_pb2.PROTOCOL_HTTP
    assert controller.intents.intents["names"].dns.records[0].type == intent_pb2.RECORD_TYPE_CNAME

    assert run(capsys, controller, "apply", "-f", str(intents_file))[1] == (
        "intent/web unchanged\nintent/names unchanged\n"
    )

    intents_file.write_text(TWO_INTENTS.replace("number: 80", "number: 8080"), encoding="utf-8")
    assert run(capsys, controller, "apply", "-f", str(intents_file))[1] == (
        "intent/web configured\nintent/names unchanged\n"
    )
    assert controller.intents.intents["web"].generation == 2


def test_apply_reads_stdin_and_several_files(
    controller: Controller,
    intents_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = tmp_path / "more.json"
    other.write_text('[{"name": "api", "service": {"hosts": ["api.example.com"]}}]')
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"name": "piped"}'))
    code, out, _ = run(capsys, controller, "apply", "-f", "-", "-f", str(other))
    assert (code, out) == (0, "intent/piped created\nintent/api created\n")


def test_apply_reports_server_rejections_and_carries_on(
    controller: Controller, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text("name: bad-one\n---\nname: good\n---\ndns: {zone: example.com}\n")
    code, out, err = run(capsys, controller, "apply", "-f", str(path))
    assert code == 1
    assert out == "intent/good created\n"
    assert err.splitlines() == [
        "error: intent/bad-one: service.ports[0].number: must be 1..65535",
        f"error: intent in {path} document 3: name: required",
    ]


def test_apply_applies_nothing_when_a_document_does_not_parse(
    controller: Controller, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("name: fine\n---\nname: typo\nservice:\n  ports: [{protocol: htp}]\n")
    code, out, err = run(capsys, controller, "apply", "-f", str(path))
    assert (code, out) == (1, "")
    assert err == (
        f"error: {path} document 2: invalid protocol 'htp' at service.ports[0].protocol: "
        "expected one of HTTP, HTTP2, GRPC, TCP, TLS\n"
    )
    assert controller.intents.intents == {}


def test_apply_of_a_missing_or_empty_file(
    controller: Controller, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yaml"
    assert run(capsys, controller, "apply", "-f", str(missing)) == (
        1,
        "",
        f"error: {missing}: cannot read: No such file or directory\n",
    )
    empty = tmp_path / "empty.yaml"
    empty.write_text("---\n")
    assert run(capsys, controller, "apply", "-f", str(empty)) == (
        1,
        "",
        f"error: no intents found in {empty}\n",
    )


def test_apply_requires_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apply"]) == 2
    assert "-f/--filename" in capsys.readouterr().err


def seed(controller: Controller, *names: str, **labels: str) -> None:
    for name in names:
        intent = intent_pb2.Intent(name=name, generation=1, labels=labels)
        intent.service.hosts.append(f"{name}.example.com")
        intent.create_time.GetCurrentTime()
        controller.intents.intents[name] = intent


def test_get_intents_pages_through_every_intent(
    controller: Controller, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(controller, "a", "b", "c", "d", "e")
    code, out, _ = run(capsys, controller, "get", "intents")
    assert code == 0
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["NAME", "KIND", "GENERATION", "READY", "AGE", "MESSAGE"]
    assert [row[0] for row in rows[1:]] == ["a", "b", "c", "d", "e"]
    assert rows[1][:4] == ["a", "service", "1", "Unknown"]
    assert len(controller.intents.list_requests) == 3


def test_get_with_a_label_selector(
    controller: Controller, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(controller, "a", "b", team="shop")
    seed(controller, "c", team="other")
    code, out, _ = run(capsys, controller, "get", "intents", "-l", "team = shop", "-o", "json")
    assert code == 0
    assert [item["name"] for item in json.loads(out)["items"]] == ["a", "b"]
    assert controller.intents.list_requests[0].label_selector == "team=shop"


def test_bad_label_selector_is_a_usage_error(
    controller: Controller, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, controller, "get", "intents", "-l", "team")
    assert code == 2
    assert err == "error: invalid label selector 'team': expected key=value[,key=value...]\n"


def test_get_one_intent_as_yaml_with_proto_names(
    controller: Controller, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(controller, "web")
    code, out, _ = run(capsys, controller, "get", "intent", "web", "-o", "yaml")
    assert code == 0
    data = yaml.safe_load(out)
    assert data["name"] == "web"
    assert data["service"]["hosts"] == ["web.example.com"]
    assert "create_time" in data
    assert data["service"]["namespace"] == ""


def test_get_of_a_missing_intent_is_not_found(
    controller: Controller, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, controller, "get", "intent", "ghost") == (
        1,
        "",
        "error: intent/ghost not found\n",
    )


def test_get_with_nothing_stored(
    controller: Controller, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, controller, "get", "intents") == (0, "", "No intents found.\n")
    assert run(capsys, controller, "get", "intents", "-o", "json") == (
        0,
        '{\n  "items": []\n}\n',
        "",
    )


def test_get_unknown_resource_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "widgets"]) == 2
    assert "invalid choice: 'widgets'" in capsys.readouterr().err


def test_delete_and_wait_until_gone(
    controller: Controller, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(controller, "web")
    assert run(capsys, controller, "delete", "intent", "web", "--wait") == (
        0,
        "intent/web deleted\n",
        "",
    )
    assert "web" not in controller.intents.intents


def test_delete_without_wait_only_marks_deleting(
    controller: Controller, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(controller, "web")
    assert run(capsys, controller, "delete", "intent", "web")[:2] == (0, "intent/web deleted\n")
    assert controller.intents.intents["web"].HasField("delete_time")


def test_delete_wait_times_out(controller: Controller, capsys: pytest.CaptureFixture[str]) -> None:
    seed(controller, "web")
    controller.intents.polls_after_delete = 1_000
    code, out, err = run(
        capsys, controller, "delete", "intent", "web", "--wait", "--wait-timeout", "0.3"
    )
    assert (code, out) == (1, "intent/web deleted\n")
    assert err.startswith("error: timed out after 0.3s waiting for intent/web to go (Deleting")


def test_delete_of_a_missing_intent(
    controller: Controller, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(controller, "real")
    assert run(capsys, controller, "delete", "intent", "ghost", "real") == (
        1,
        "intent/real deleted\n",
        "error: intent/ghost not found\n",
    )


def test_status_table_and_json(controller: Controller, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, controller, "status")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["controller", "SERVING", "address"]
    assert lines[2].split() == [
        "PLUGIN",
        "INSTANCE",
        "PID",
        "ADDRESS",
        "STATE",
        "RESTARTS",
        "LAST",
        "ERROR",
    ]
    assert lines[3].split() == ["recorder", "recorder-0", "101", "127.0.0.1:40001", "READY", "0"]
    code, out, _ = run(capsys, controller, "status", "-o", "json")
    data = json.loads(out)
    assert data["controller"]["state"] == "CONTROLLER_STATE_SERVING"
    assert data["controller"]["queue_depth"] == "0"


def test_unreachable_server_exits_3(
    unused_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, unused_address, "get", "intents")
    assert (code, out) == (3, "")
    assert err.startswith(f"error: cannot reach the controller at {unused_address}: ")
    assert len(err.splitlines()) == 1


def test_apply_stops_at_an_unreachable_server(
    unused_address: str, intents_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, unused_address, "apply", "-f", str(intents_file))
    assert code == 3
    assert len(err.splitlines()) == 1


def test_unavailable_from_a_reachable_controller_is_a_request_error(
    controller: Controller, capsys: pytest.CaptureFixture[str]
) -> None:
    controller.lifecycle.failure = (grpc.StatusCode.UNAVAILABLE, "controller is draining")
    assert run(capsys, controller, "status") == (
        1,
        "",
        "error: status: the controller is unavailable: controller is draining\n",
    )


def test_other_status_codes_name_the_problem(
    controller: Controller, capsys: pytest.CaptureFixture[str]
) -> None:
    controller.lifecycle.failure = (grpc.StatusCode.PERMISSION_DENIED, "admins only")
    assert run(capsys, controller, "status")[2] == "error: status: permission denied: admins only\n"


def test_a_slow_answer_hits_the_timeout(
    controller: Controller, capsys: pytest.CaptureFixture[str]
) -> None:
    controller.lifecycle.stall = True
    code, _, err = run(capsys, controller, "status", "--timeout", "0.2")
    assert (code, err) == (1, "error: status: no answer within 0.2s\n")


def test_server_comes_from_tc_server(
    controller: Controller, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TC_SERVER", controller.address)
    assert main(["status", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["controller"]["intents"] == "2"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["status", "--timeout", "0"],
        ["status", "--timeout", "soon"],
        ["status", "-o", "xml"],
        ["delete", "intent"],
        ["controller"],
        ["up", "--log-level", "loud"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err
    assert "Traceback" not in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "apply" in capsys.readouterr().out


def settings_for(*argv: str) -> Any:
    return serve.settings_from_args(build_parser({}).parse_args(list(argv)))


def test_up_uses_the_settings_defaults() -> None:
    from tc.server.settings import ControllerSettings

    assert settings_for("up") == ControllerSettings()


def test_controller_flags_become_settings(tmp_path: Path) -> None:
    settings = settings_for(
        "controller",
        "--config",
        str(tmp_path / "plugins"),
        "--state-dir",
        str(tmp_path / "state"),
        "--grpc-address",
        "127.0.0.1:0",
        "--log-json",
        "--log-level",
        "debug",
    )
    assert settings.plugins_dir == tmp_path / "plugins"
    assert settings.state_dir == tmp_path / "state"
    assert settings.grpc_address == "127.0.0.1:0"
    assert settings.log_json is True
    assert settings.log_level == "DEBUG"


def test_client_commands_do_not_import_the_server(unused_address: str) -> None:
    script = (
        "import sys\n"
        "from tc.cli.main import main\n"
        f"code = main(['get', 'intents', '--server', {unused_address!r}])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('tc.server'))\n"
        "print(code, loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "3 []"

"""tcctl against a real controller process: what a newcomer types in the quickstart."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, ControllerProcess, wait_until

pytestmark = pytest.mark.e2e


async def tcctl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tc.cli.main", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_quickstart(controller: ControllerProcess, tmp_path: Path) -> None:
    server = ["--server", await controller.start()]
    applied = await tcctl("apply", "-f", "examples/shop.yaml", *server)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines() == ["intent/shop created", "intent/shop-canary created"]
    again = await tcctl("apply", "-f", "examples/shop.yaml", *server)
    assert again.stdout.splitlines() == ["intent/shop unchanged", "intent/shop-canary unchanged"]

    async def shop_ready() -> bool:
        got = await tcctl("get", "intent", "shop", "-o", "json", *server)
        doc = json.loads(got.stdout)
        return any(
            c["type"] == "Ready" and c["status"] == "CONDITION_STATUS_TRUE"
            for c in doc["status"]["conditions"]
        )

    await wait_until(shop_ready, what="shop Ready through tcctl")
    table = await tcctl("get", "intents", *server)
    assert table.returncode == 0
    header, *rows = table.stdout.splitlines()
    assert header.split()[:4] == ["NAME", "KIND", "GENERATION", "READY"]
    assert rows[0].split()[:3] == ["shop", "service", "1"]

    status = await tcctl("status", *server)
    assert status.returncode == 0
    assert "recorder-0" in status.stdout and "recorder-1" in status.stdout

    # shop.yaml's endpoints are checked (over HTTP, on local ports nothing listens on here).
    checked = await tcctl("get", "microservices", "shop", *server)
    assert checked.returncode == 0, checked.stderr
    header, *rows = checked.stdout.splitlines()
    assert header.split()[:3] == ["SERVICE", "ENDPOINT", "HEALTH"]
    assert sorted(row.split()[1] for row in rows) == [
        "127.0.0.1:9001",
        "127.0.0.1:9002",
        "127.0.0.1:9003",
    ]

    deleted = await tcctl("delete", "intent", "shop-canary", "--wait", *server)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == "intent/shop-canary deleted"
    missing = await tcctl("get", "intent", "shop-canary", *server)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error:") and "Traceback" not in missing.stderr


async def test_bad_input_is_one_line_and_changes_nothing(
    controller: ControllerProcess, tmp_path: Path
) -> None:
    server = ["--server", await controller.start()]
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: web\nservice:\n  hosts: [web.example.com]\n  ports: [{number: 0, protocol: HTTP}]\n"
    )
    result = await tcctl("apply", "-f", str(bad), *server)
    assert result.returncode == 1
    assert "spec.service.ports[0].number" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    listed = await tcctl("get", "intents", "-o", "json", *server)
    assert json.loads(listed.stdout)["items"] == []


async def test_unreachable_controller_exits_3() -> None:
    result = await tcctl("get", "intents", "--server", "127.0.0.1:1", "--timeout", "2")
    assert result.returncode == 3
    assert result.stderr.startswith("error: cannot reach the controller at 127.0.0.1:1")


async def test_tokens_through_tcctl(tmp_path: Path, plugins_dir: Path) -> None:
    """A controller started with --tokens-file refuses tcctl without its token and answers
    with it; the token never shows in what tcctl prints."""
    from tc.server.auth import add_token

    tokens = tmp_path / "tokens.yaml"
    token = add_token(tokens, "ops")
    (tmp_path / "ops.token").write_text(token + "\n")
    controller = ControllerProcess(
        tmp_path / "state", plugins_dir, extra=["--tokens-file", str(tokens)]
    )
    try:
        server = ["--server", await controller.start()]
        refused = await tcctl("get", "intents", *server)
        assert refused.returncode != 0
        assert "missing bearer token" in refused.stderr
        wrong = tmp_path / "wrong.token"
        wrong.write_text("tc_not-the-token\n")
        denied = await tcctl("get", "intents", "--token-file", str(wrong), *server)
        assert denied.returncode != 0 and "unknown or expired token" in denied.stderr
        allowed = await tcctl(
            "get", "intents", "--token-file", str(tmp_path / "ops.token"), *server
        )
        assert allowed.returncode == 0, allowed.stderr
        assert token not in refused.stderr + denied.stderr + allowed.stdout
    finally:
        controller.stop()


async def test_drain_finishes_work_then_apply_is_refused(controller: ControllerProcess) -> None:
    server = ["--server", await controller.start()]
    applied = await tcctl("apply", "-f", "examples/shop.yaml", *server)
    assert applied.returncode == 0, applied.stderr

    drained = await tcctl("drain", "--timeout", "30", *server)
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert drained.stdout.strip() == "drained"
    # Queued work was finished before the answer: the intent is Ready without waiting.
    got = await tcctl("get", "intent", "shop", *server)
    assert got.stdout.splitlines()[1].split()[3] == "True"

    refused = await tcctl("apply", "-f", "examples/shop.yaml", *server)
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[0] == (
        "error: intent/shop: the controller is unavailable: "
        "controller is draining: not accepting changes"
    )
    again = await tcctl("drain", "-o", "json", *server)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["drained"] is True


async def test_events_prints_what_an_apply_causes(controller: ControllerProcess) -> None:
    server = ["--server", await controller.start()]
    watcher = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tc.cli.main",
        "events",
        "--count",
        "1",
        "--type",
        "intent.ready",
        "-o",
        "json",
        *server,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert watcher.stderr is not None
        # tcctl says so once the controller has subscribed it: no event can be missed now.
        first = await asyncio.wait_for(watcher.stderr.readline(), 30)
        assert first.decode().startswith("watching events"), first
        applied = await tcctl("apply", "-f", "examples/shop.yaml", *server)
        assert applied.returncode == 0, applied.stderr
        out, err = await asyncio.wait_for(watcher.communicate(), 30)
    finally:
        if watcher.returncode is None:
            watcher.kill()
            await watcher.wait()
    assert watcher.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["type"] == "intent.ready"
    assert event["subject"] in ("shop", "shop-canary")
    assert event["message"].startswith("generation 1")

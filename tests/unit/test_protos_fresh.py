"""The committed stubs in tc/_proto are exactly what scripts/gen_protos.sh generates."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _files(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_generated_stubs_match_protos(tmp_path: Path) -> None:
    out = tmp_path / "proto"
    subprocess.run(
        [str(ROOT / "scripts" / "gen_protos.sh"), str(out)],
        check=True,
        cwd=ROOT,
        env={"PYTHON": sys.executable, "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"},
    )
    committed = ROOT / "tc" / "_proto"
    assert _files(out) == _files(committed), "stub files differ: run `make protos` and commit"
    stale = [
        name
        for name in sorted(_files(out))
        if not filecmp.cmp(out / name, committed / name, shallow=False)
    ]
    assert not stale, f"stale generated stubs {stale}: run `make protos` and commit"

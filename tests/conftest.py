"""Options shared by every test directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs a fresh clone with no example database: a derandomized run there is repeatable, so
# a red build always means a change broke something. Developers keep random exploration, and
# a failure they find is saved in .hypothesis/ and replayed until fixed.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_addoption(parser: pytest.Parser) -> None:
    # Golden files are reviewed in diffs: regenerating them is a deliberate act, never a
    # side effect of a failing run.
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/*.out.yaml from what the renderers produce now",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """Whether this run rewrites golden files instead of comparing against them."""
    return bool(request.config.getoption("--update-golden"))


def check_golden(out: Path, text: str, update: bool) -> None:
    """`text` must equal the golden file `out`; with --update-golden it is written first
    (to be reviewed in the diff)."""
    if update:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    assert out.exists(), f"no {out.name}: run pytest --update-golden and review the diff"
    assert text == out.read_text(encoding="utf-8"), (
        f"{out.name} differs: run pytest --update-golden and review the diff"
    )

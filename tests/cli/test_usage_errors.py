"""Mistyped command lines get click's usage message and status 2, not an "unexpected" error."""

from __future__ import annotations

import subprocess
import sys


def _driftline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from driftline.cli import main; main()", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_an_unknown_option_shows_usage() -> None:
    out = _driftline("--data-dir", "x", "init")
    assert out.returncode == 2
    assert "No such option: --data-dir" in out.stderr
    assert "Usage:" in out.stderr and "unexpected" not in out.stderr


def test_a_missing_argument_names_it() -> None:
    out = _driftline("warehouse", "add", "shop")
    assert out.returncode == 2
    assert "Missing argument 'url'" in out.stderr
    assert "unexpected" not in out.stderr


def test_a_missing_optional_package_says_what_to_install() -> None:
    from driftline.cli import _missing_package

    assert _missing_package("adbc_driver_postgresql.dbapi") == (
        "this needs the Python package 'adbc_driver_postgresql', which is not installed: "
        "pip install 'driftline[postgres]'"
    )
    assert _missing_package("somethingelse").endswith("pip install somethingelse")

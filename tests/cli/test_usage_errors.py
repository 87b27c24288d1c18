"""Mistyped command lines get click's usage message and status 2, not an "unexpected" error."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest


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


def test_a_missing_package_is_named_not_a_traceback(tmp_path: Path) -> None:
    """A package that no connector's own check names (here fsspec, hidden from the import
    system, as on an install that lacked it) is one line saying what to install, not an
    "unexpected" error."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'fsspec':\n"
        "            raise ModuleNotFoundError(\"No module named 'fsspec'\", name='fsspec')\n"
        "sys.meta_path.insert(0, Hide())\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    init = [sys.executable, "-c", "from driftline.cli import main; main()", "init"]
    subprocess.run([*init, "--data-dir", str(tmp_path / "data")], check=True, capture_output=True)
    out = subprocess.run(
        [sys.executable, "-c", "from driftline.cli import main; main()", "pipeline", "add", "raw",
         "--destination", f"file://{tmp_path}/bucket", "--data", "events",
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert out.returncode == 1
    assert "this needs the Python package 'fsspec', which is not installed: pip install fsspec" in (
        out.stderr
    )
    assert "unexpected" not in out.stderr


def test_a_bad_setting_in_the_environment_names_the_variable(tmp_path: Path) -> None:
    for value, problem in (("many", "valid integer"), ("-1", "greater than or equal to 0")):
        out = subprocess.run(
            [sys.executable, "-c", "from driftline.cli import main; main()", "serve",
             "--port", "0", "--data-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "DRIFTLINE_COLLECTOR_WORKERS": value},
        )  # fmt: skip
        assert out.returncode == 1
        [line] = out.stderr.strip().splitlines()
        assert line.startswith("error: setting DRIFTLINE_COLLECTOR_WORKERS: ")
        assert problem in line and repr(value) in line


@pytest.mark.parametrize(
    "args",
    [
        ["query", "segmentation", "--event", "Purchase", "--from", "2026-13-01", "--to", "2026-11-07"],
        ["query", "funnel", "--steps", "A,B", "--from", "2026-11-01", "--to", "nov"],
        ["export", "events", "--from", "2026-13-01", "--to", "2026-11-07"],
        ["pipeline", "backfill", "raw", "--from", "2026-13-01"],
        ["pipeline", "backfill", "raw", "--from", "2026-01-01", "--to", "nov"],
        ["export", "bad-rows", "--count", "--from", "2026-13-01"],
    ],
)  # fmt: skip
def test_a_day_that_is_not_a_date_names_the_option_as_typed(
    tmp_path: Path, args: list[str]
) -> None:
    """The message names `--from`/`--to` as the user typed them (it said `--from-date`,
    `to_date`, ...: options that do not exist)."""
    assert _driftline("init", "--data-dir", str(tmp_path)).returncode == 0
    out = _driftline(*args, "--data-dir", str(tmp_path))
    assert out.returncode == 1
    flag, value = ("--to", "nov") if "nov" in args else ("--from", "2026-13-01")
    assert out.stderr.strip() == f"error: {flag} {value!r} is not a date; use YYYY-MM-DD"


def test_the_apply_example_in_help_is_a_file_that_can_be_copied() -> None:
    """The example's first two lines were run together ("[warehouses.shop] url = ..."), which
    is not TOML, and the command list showed apply's summary ending in "Example:"."""
    out = _driftline("apply", "--help")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("[warehouses."))
    end = next(i for i, line in enumerate(lines) if "Pipeline keys" in line)
    example = tomllib.loads("\n".join(line.strip() for line in lines[start:end]))
    assert example["warehouses"]["shop"]["url"].startswith("postgresql://")
    assert set(example) == {"warehouses", "syncs", "pipelines"}
    listing = _driftline("--help").stdout
    assert "Example:" not in listing

"""Running the real ``driftline`` command in a subprocess, as a user does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DRIFTLINE = [sys.executable, "-m", "driftline"]


def run_cli(
    *args: str,
    data_dir: Path,
    check: bool = True,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*DRIFTLINE, *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(
            f"driftline {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc

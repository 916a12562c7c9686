"""Helpers the tests share."""

from __future__ import annotations

import os
import subprocess
import sys

__all__ = ["run_cli"]


def run_cli(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """The ``memindex`` command as a user runs it (a fresh process, offline model settings)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "memindex.cli", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)

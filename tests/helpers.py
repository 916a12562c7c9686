"""Helpers the tests share."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["run_cli", "SHARED"]


def run_cli(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """The ``memindex`` command as a user runs it (a fresh process, offline model settings)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "memindex.cli", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def _find_shared_media() -> Path:
    """$MEMINDEX_SHARED_MEDIA, else the first ``shared/media`` beside the checkout or one of its parents."""
    if os.environ.get("MEMINDEX_SHARED_MEDIA"):
        return Path(os.environ["MEMINDEX_SHARED_MEDIA"])
    repo = Path(__file__).resolve().parents[1]
    for base in (repo.parent, *repo.parent.parents):
        if (base / "shared" / "media" / "video").is_dir():
            return base / "shared" / "media"
    return repo.parent / "shared" / "media"


SHARED = _find_shared_media()

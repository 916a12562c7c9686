"""Turn the user's paths (files and folders, recursively) into the list of videos to ingest."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ingest.config import VIDEO_EXTENSIONS

__all__ = ["discover"]


def discover(paths: Iterable[str | os.PathLike[str]] | str) -> tuple[list[str], list[tuple[str, str]]]:
    """(video files in a stable order, without repeats; [(path, why)] for paths that cannot be used).

    Files named explicitly are taken whatever their extension (probing decides); folders contribute the
    files whose extension is a known video extension. Symlinked folders are not followed (no loops).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[str] = []
    problems: list[tuple[str, str]] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            for root, dirs, names in os.walk(p):
                dirs.sort()
                files += [str(Path(root) / n) for n in sorted(names)
                          if Path(n).suffix.lower() in VIDEO_EXTENSIONS and not n.startswith(".")]
        elif p.is_file():
            files.append(str(p))
        else:
            problems.append((str(p), "no such file or folder"))
    seen: set[str] = set()
    unique = []
    for f in files:
        key = str(Path(f).resolve())
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, problems

"""Turn the user's paths (files and folders, recursively) into the list of videos to ingest."""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from memindex.ingest.config import VIDEO_EXTENSIONS

__all__ = ["discover"]

log = logging.getLogger(__name__)
_WHY = {
    errno.ENOENT: "no such file or folder",
    errno.ELOOP: "symlink loop (the link leads back to itself)",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def discover(paths: Iterable[str | os.PathLike[str]] | str) -> tuple[list[str], list[tuple[str, str]]]:
    """(video files in a stable order, without repeats; [(path, why)] for paths that cannot be used).

    Files named explicitly are taken whatever their extension (probing decides); folders contribute the
    files whose extension is a known video extension. Symlinked folders inside a folder are not followed,
    and a folder reached twice (a bind mount of an ancestor) is walked once, so a walk always ends; a file
    symlink that loops, a fifo or device, and a folder that cannot be listed are reported, not fatal.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    walk = _Walk()
    for raw in paths:
        walk.path(Path(raw).expanduser())
    return walk.files, walk.problems


class _Walk:
    def __init__(self) -> None:
        self.files: list[str] = []
        self.problems: list[tuple[str, str]] = []
        self._seen: set[tuple[int, int]] = set()  # (device, inode) of files and folders already taken

    def path(self, p: Path, *, named: bool = True) -> None:
        try:
            st = p.stat()  # follows symlinks: a loop is ELOOP here, a dangling link ENOENT
        except OSError as exc:
            dangling = exc.errno == errno.ENOENT and p.is_symlink()
            self.problems.append((str(p), "broken symlink (its target is missing)" if dangling else _why(exc)))
            return
        if stat.S_ISDIR(st.st_mode):
            self._folder(p, st)
        elif not (named or p.suffix.lower() in VIDEO_EXTENSIONS):
            return
        elif not stat.S_ISREG(st.st_mode):
            self.problems.append((str(p), f"not a regular file ({_kind(st.st_mode)})"))
        elif self._first(st):
            self.files.append(str(p))

    def _folder(self, folder: Path, st: os.stat_result) -> None:
        if not self._first(st):
            log.info("folder %s was already walked (a link or mount of it); not walked again", folder)
            return
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self.problems.append((str(folder), f"cannot list the folder: {_why(exc)}"))
            return
        subfolders = []
        for e in entries:
            if _is_dir(e):
                if e.is_symlink():
                    log.info("not following the symlinked folder %s", e.path)
                else:
                    subfolders.append(Path(e.path))
            elif not e.name.startswith("."):
                self.path(Path(e.path), named=False)
        for sub in subfolders:  # files of a folder first, then its subfolders, as os.walk orders them
            try:
                self._folder(sub, sub.stat())
            except OSError as exc:
                self.problems.append((str(sub), _why(exc)))

    def _first(self, st: os.stat_result) -> bool:
        key = (st.st_dev, st.st_ino)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symlinks; False for a looping or dangling link
    except OSError:
        return False


def _why(exc: OSError) -> str:
    return _WHY.get(exc.errno or 0) or exc.strerror or str(exc)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a fifo"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a file"

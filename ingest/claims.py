"""Per-video claims: while one ingest works on a video, another (process or ``MemoryIndex``) skips it.

A claim is an exclusive ``flock`` on ``<collection>/claims/<video_id>.lock``. The kernel drops the lock when
its holder exits, however it dies, so a claim left by a killed process never blocks anyone; the holder
removes the file when it is done.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["claim", "holder"]


@contextmanager
def claim(folder: Path, video_id: str) -> Iterator[bool]:
    """Yields True while this caller holds the video's claim, False (at once) when someone else holds it."""
    folder.mkdir(exist_ok=True)
    path = folder / f"{video_id}.lock"
    fd = _take(path)
    if fd is None:
        yield False
        return
    try:
        yield True
    finally:
        _release(path, fd)


def holder(folder: Path, video_id: str) -> str:
    """Who holds a claim, for messages: "process 1234", or "another process" when it cannot be told."""
    try:
        pid = (folder / f"{video_id}.lock").read_text().strip()
    except OSError:
        pid = ""
    return f"process {pid}" if pid.isdigit() else "another process"


def _take(path: Path) -> int | None:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        if _still_linked(fd, path):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)  # the previous holder finished and removed the file between our open and our lock


def _still_linked(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _release(path: Path, fd: int) -> None:
    try:
        path.unlink(missing_ok=True)  # while still locked: a waiter on this inode sees it gone and retries
    finally:
        os.close(fd)

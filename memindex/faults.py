"""Fault injection at the store's commit points, for tests that check what survives a crash at each one.

Every durable step of a write calls ``point(name)``. Nothing happens unless the process was started with
``MEMINDEX_FAULTS`` set:

- ``trace:FILE``: append each point's name to FILE, one per line (how a test enumerates the points);
- ``kill:N``: the N-th point reached (1-based) kills the process with SIGKILL, as a power cut would;
- ``enospc:N`` / ``eio:N``: the N-th point raises ``OSError`` (disk full / I/O error) instead.

The variable is read once, when the first point is reached; ``arm()`` sets the plan in-process for tests.
"""

from __future__ import annotations

import errno
import os
import signal
import threading

__all__ = ["point", "arm"]

_lock = threading.Lock()
_plan: list[object] | None = None  # [mode, n or path, count]


def _load() -> list[object]:
    raw = os.environ.get("MEMINDEX_FAULTS", "")
    mode, _, arg = raw.partition(":")
    if mode == "trace":
        return [mode, arg, 0]
    if mode in ("kill", "enospc", "eio") and arg.isdigit():
        return [mode, int(arg), 0]
    return ["off", 0, 0]


def arm(spec: str | None) -> None:
    """Set the plan in this process (``None`` re-reads ``MEMINDEX_FAULTS``); the count starts over."""
    global _plan
    with _lock:
        if spec is not None:
            os.environ["MEMINDEX_FAULTS"] = spec
        _plan = _load()


def point(name: str) -> None:
    """A commit point: a no-op unless a fault plan is armed (see the module docstring)."""
    global _plan
    if _plan is None:
        with _lock:
            _plan = _plan or _load()
    mode = _plan[0]
    if mode == "off":
        return
    with _lock:
        _plan[2] = int(_plan[2]) + 1  # type: ignore[call-overload]
        count = _plan[2]
    if mode == "trace":
        with open(str(_plan[1]), "a") as fh:
            fh.write(f"{name}\n")
    elif count == _plan[1]:
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        code = errno.ENOSPC if mode == "enospc" else errno.EIO
        raise OSError(code, f"{os.strerror(code)} (injected at {name})")

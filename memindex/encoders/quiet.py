"""Third-party model loaders talk on their own: progress bars on stderr, ``logging.error`` on the root logger
for a failure memindex reports itself. ``quiet_loading`` keeps a load silent; the error, if any, still
reaches the caller as a memindex error."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress

__all__ = ["quiet_loading"]


class _DropFrom(logging.Filter):
    def __init__(self, packages: tuple[str, ...]) -> None:
        super().__init__()
        self.marks = tuple(f"/{p}/" for p in packages)

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(mark in record.pathname for mark in self.marks)


def _bars_off() -> None:
    """Turn off the loaders' progress bars; a loader that is not installed has none to turn off."""
    with suppress(ImportError):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    with suppress(ImportError):
        from huggingface_hub.utils import disable_progress_bars  # type: ignore[attr-defined]

        disable_progress_bars()


@contextmanager
def quiet_loading(*packages: str) -> Iterator[None]:
    """No progress bars from transformers / huggingface_hub, and no log records from ``packages`` (their own
    error lines for what memindex raises and reports once)."""
    _bars_off()
    drop = _DropFrom(packages)
    root = logging.getLogger()
    handlers = list(root.handlers)
    for handler in handlers:
        handler.addFilter(drop)
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)
        for handler in handlers:
            handler.removeFilter(drop)

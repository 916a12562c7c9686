"""Which failures stop a batch. A fault of the store itself (its catalog, lock or tier files cannot be
written: disk full, I/O error, read-only) stops it; anything else that goes wrong while finding or ingesting
one file is that file's failure: reported with its path and cause, and the batch goes on."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from memindex.errors import MediaError, MemIndexError, ReadOnlyStoreError, StageError, StoreError, StoreFullError
from memindex.store import Store

__all__ = ["store_fault", "file_error"]

_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
_FAULTS: dict[int, type[StoreError]] = {
    **dict.fromkeys((errno.ENOSPC, errno.EDQUOT, errno.EIO), StoreFullError),
    **dict.fromkeys((errno.EROFS, errno.EACCES, errno.EPERM), ReadOnlyStoreError),
}


def store_fault(exc: BaseException, store: Store) -> StoreError | None:
    """The store-wide fault ``exc`` is, or None when it concerns one file only."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, DBAPIError) and not isinstance(exc, (IntegrityError, DataError)):
        return StoreError(
            f"the catalog of the store {str(store.root)!r} cannot be written: {exc.orig}", path=str(store.dir)
        )
    if isinstance(exc, OSError) and _store_file(exc.filename, store):
        cls = _FAULTS.get(exc.errno or 0, StoreError)
        return cls(f"the store {str(store.root)!r} cannot be written: {exc.strerror or exc}", path=str(exc.filename))
    return None


def file_error(exc: BaseException, path: str, video_id: str | None = None) -> MemIndexError:
    """``exc`` as a memindex error that names the file (and video): a memindex error keeps its message."""
    if isinstance(exc, MemIndexError):
        err = exc
    elif isinstance(exc, OSError):
        verb = "write" if exc.errno in _WRITE_ERRNOS else "read"
        what = f"{str(exc.filename)!r}" if exc.filename is not None else "a file"
        cls = StoreError if verb == "write" else MediaError
        err = cls(f"cannot {verb} {what}: {exc.strerror or exc}")
    else:  # not one of ours: a library error no stage translated; the traceback goes to the debug log
        err = StageError(f"unexpected {type(exc).__name__}: {exc}")
    if err.path is None:
        err.path = path
    if err.video_id is None:
        err.video_id = video_id
    return err


def _store_file(filename: object, store: Store) -> bool:
    """A file of the store's own (catalog, lock, tier, claim), not of one video's keyframes."""
    if not isinstance(filename, (str, os.PathLike)):
        return False
    p = Path(os.path.abspath(filename))
    return (p == store.dir or store.dir in p.parents) and store.media.root not in (p, *p.parents)

"""The one exception tree of memindex.

    MemIndexError                 code            HTTP
    ├── ConfigError               config          400
    │   ├── EncoderMismatchError  encoder_mismatch 409
    │   └── ForbiddenPathError    forbidden_path  403   (an ingest path outside the server's allowed roots)
    ├── MissingDependencyError    missing_dependency 501
    ├── MediaError                media           422   (corrupt, truncated, no stream, unreadable)
    ├── StageError                stage           500   (a model failed while processing a video)
    │   └── LLMError              llm             502   (the chat endpoint failed or answered nonsense)
    ├── StoreError                store           500
    │   ├── SchemaError           schema          409   (store newer than this code)
    │   ├── CorruptStoreError     corrupt_store   500   (a damaged, lost or foreign catalog, tier or config)
    │   ├── ReadOnlyStoreError    read_only       409   (a write to a store opened read-only)
    │   └── StoreFullError        store_full      507   (disk full or I/O error while committing)
    ├── NotFoundError             not_found       404
    └── QueryError                bad_query       400

Third-party errors are translated where they cross into memindex, with ``raise ... from exc``. Every error
carries the file, video id and time where it happened when those are known, so a log line or an HTTP
response names its cause.
"""

from __future__ import annotations

__all__ = [
    "MemIndexError",
    "ConfigError",
    "EncoderMismatchError",
    "MissingDependencyError",
    "MediaError",
    "StageError",
    "LLMError",
    "ForbiddenPathError",
    "StoreError",
    "SchemaError",
    "CorruptStoreError",
    "ReadOnlyStoreError",
    "StoreFullError",
    "NotFoundError",
    "QueryError",
    "error_from_dict",
]


class MemIndexError(Exception):
    """Root of every error memindex raises on purpose."""

    code = "error"
    http_status = 500

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        video_id: str | None = None,
        t: float | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.video_id = video_id
        self.t = t
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.path is not None:
            where.append(f"file {self.path!r}")
        if self.video_id is not None:
            where.append(f"video {self.video_id}")
        if self.t is not None:
            where.append(f"at {self.t:.2f}s")
        return f"{self.message} ({', '.join(where)})" if where else self.message

    def to_dict(self) -> dict[str, object]:
        """The ``{code, message}`` body the servers return."""
        out: dict[str, object] = {"code": self.code, "message": self._render()}
        for key in ("path", "video_id", "t"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class ConfigError(MemIndexError):
    code = "config"
    http_status = 400


class EncoderMismatchError(ConfigError):
    code = "encoder_mismatch"
    http_status = 409


class MissingDependencyError(MemIndexError):
    code = "missing_dependency"
    http_status = 501

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(f"{purpose} needs the package {package!r}; install it with: pip install 'memindex[{extra}]'")


class MediaError(MemIndexError):
    code = "media"
    http_status = 422


class StageError(MemIndexError):
    code = "stage"
    http_status = 500


class StoreError(MemIndexError):
    code = "store"
    http_status = 500


class SchemaError(StoreError):
    code = "schema"
    http_status = 409


class CorruptStoreError(StoreError):
    code = "corrupt_store"
    http_status = 500


class ReadOnlyStoreError(StoreError):
    code = "read_only"
    http_status = 409


class StoreFullError(StoreError):
    code = "store_full"
    http_status = 507


class NotFoundError(MemIndexError):
    code = "not_found"
    http_status = 404


class QueryError(MemIndexError):
    code = "bad_query"
    http_status = 400


class LLMError(StageError):
    """The endpoint failed, timed out after retries, or answered something that is not a chat completion."""

    code = "llm"
    http_status = 502


class ForbiddenPathError(ConfigError):
    """An ingest path that resolves outside the server's allowed roots."""

    code = "forbidden_path"
    http_status = 403


def error_from_dict(data: dict[str, object]) -> MemIndexError:
    """Rebuild a typed error from its ``{code, message}`` form (server jobs, the HTTP client)."""
    classes: dict[str, type[MemIndexError]] = {}
    for name in __all__:
        cls = globals()[name]
        if isinstance(cls, type) and issubclass(cls, MemIndexError):
            classes[cls.code] = cls
    found = classes.get(str(data.get("code")), MemIndexError)
    if found is MissingDependencyError:  # its constructor wants the parts; the message already says them
        found = MemIndexError
    exc = found.__new__(found)
    MemIndexError.__init__(exc, str(data.get("message", "")))
    exc.code = str(data.get("code", "error"))
    return exc

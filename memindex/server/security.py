"""What keeps the server safe to expose: bearer tokens, allowed ingest roots, request size limits."""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memindex.errors import ConfigError, MemIndexError, NotFoundError

__all__ = ["PathGuard", "ForbiddenPathError", "load_token", "is_loopback", "require_token_for",
           "AuthMiddleware", "BodyLimitMiddleware", "TOKEN_ENV"]

TOKEN_ENV = "MEMINDEX_TOKEN"
VIDEO_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .ts .mts .m2ts .wmv .flv .3gp .ogv".split())


class ForbiddenPathError(ConfigError):
    code = "forbidden_path"
    http_status = 403


class PathGuard:
    """Ingest paths must resolve (symlinks followed) to a place under one of the allowed roots."""

    def __init__(self, roots: Sequence[str | Path]) -> None:
        self.roots = tuple(Path(r).expanduser().resolve() for r in roots)

    def check(self, raw: str) -> Path:
        if not isinstance(raw, str) or not raw.strip() or "\x00" in raw or len(raw) > 4096:
            raise ConfigError("the path must be a non-empty string")
        if not self.roots:
            raise ForbiddenPathError("this server has no allowed roots for ingest (start it with --allow DIR)")
        if ".." in Path(raw).parts:
            raise ForbiddenPathError("'..' is not allowed in ingest paths", path=raw)
        given = Path(raw).expanduser()
        if not given.is_absolute():
            given = self.roots[0] / given
        resolved = given.resolve()
        if not any(resolved == r or r in resolved.parents for r in self.roots):
            raise ForbiddenPathError("the path is outside the server's allowed roots", path=raw)
        if not resolved.exists():
            raise NotFoundError("no such file or folder", path=raw)
        if resolved.is_file():
            if resolved.suffix.lower() not in VIDEO_SUFFIXES:
                raise ConfigError(f"{resolved.suffix or 'no extension'!r} is not a video file extension",
                                  path=raw)
            if resolved.stat().st_size == 0:
                from memindex.errors import MediaError

                raise MediaError("the file is empty (0 bytes)", path=raw)
        elif resolved.is_dir():
            self._check_tree(resolved, raw)
        else:
            raise ConfigError("not a regular file or folder", path=raw)
        return resolved

    def _check_tree(self, folder: Path, raw: str) -> None:
        """A folder's video files must not escape the roots through symlinks either."""
        for dirpath, _dirs, names in os.walk(folder):
            for name in names:
                real = (Path(dirpath) / name).resolve()
                if not any(r in real.parents for r in self.roots):
                    raise ForbiddenPathError(f"{name!r} links outside the allowed roots", path=raw)


def load_token(token: str | None = None, token_file: str | Path | None = None) -> str | None:
    """The bearer token: given, read from a file, or from ``$MEMINDEX_TOKEN``; None when there is none."""
    if token:
        return token.strip()
    if token_file:
        value = Path(token_file).expanduser().read_text().strip()
        if not value:
            raise ConfigError("the token file is empty", path=str(token_file))
        return value
    return os.environ.get(TOKEN_ENV, "").strip() or None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_token_for(host: str, token: str | None) -> None:
    """Binding anywhere but loopback needs a token; refuse to start otherwise."""
    if not is_loopback(host) and not token:
        raise ConfigError(f"binding to {host!r} needs a bearer token: set ${TOKEN_ENV} or pass --token-file")
    if token is not None and len(token) < 16:
        raise ConfigError("the bearer token must be at least 16 characters")


async def _send_error(send: Any, error: MemIndexError | dict, status: int | None = None) -> None:
    body = error if isinstance(error, dict) else error.to_dict()
    code = status or (error.http_status if isinstance(error, MemIndexError) else 400)
    headers = [(b"content-type", b"application/json")]
    if code == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


class AuthMiddleware:
    """ASGI middleware: every path but the open ones needs ``Authorization: Bearer <token>``."""

    OPEN = ("/v1/health",)

    def __init__(self, app: Any, token: str | None) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.token is None or scope["path"] in self.OPEN:
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self.token.encode()):
            await _send_error(send, {"code": "unauthorized", "message": "a valid bearer token is required"}, 401)
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """ASGI middleware: refuse request bodies over ``limit`` bytes (declared or streamed)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        too_big = {"code": "too_large", "message": f"the request body is over {self.limit} bytes"}
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _send_error(send, too_big, 413)
            return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _send_error(send, too_big, 413)


class _TooLarge(Exception):
    pass

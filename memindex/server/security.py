"""What keeps the server safe to expose: bearer tokens, Host/Origin checks, allowed ingest roots, body limits."""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memindex.errors import ConfigError, ForbiddenPathError, MemIndexError, NotFoundError
from memindex.remote import TOKEN_ENV

__all__ = [
    "PathGuard",
    "ForbiddenPathError",
    "load_token",
    "is_loopback",
    "require_token_for",
    "AuthMiddleware",
    "BodyLimitMiddleware",
    "HostOriginMiddleware",
    "TOKEN_ENV",
]

VIDEO_SUFFIXES = frozenset(".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .ts .mts .m2ts .wmv .flv .3gp .ogv".split())


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
        try:
            resolved = given.resolve()
        except (OSError, RuntimeError) as exc:
            raise ConfigError("the path is a symlink loop", path=raw) from exc
        if not any(resolved == r or r in resolved.parents for r in self.roots):
            raise ForbiddenPathError("the path is outside the server's allowed roots", path=raw)
        if not resolved.exists():
            raise NotFoundError("no such file or folder", path=raw)
        if resolved.is_file():
            if resolved.suffix.lower() not in VIDEO_SUFFIXES:
                raise ConfigError(f"{resolved.suffix or 'no extension'!r} is not a video file extension", path=raw)
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
                try:
                    real = (Path(dirpath) / name).resolve()
                except (OSError, RuntimeError):  # a symlink loop leads nowhere; the ingest reports it
                    continue
                if not any(r in real.parents for r in self.roots):
                    raise ForbiddenPathError(f"{name!r} links outside the allowed roots", path=raw)


def load_token(token: str | None = None, token_file: str | Path | None = None) -> str | None:
    """The bearer token: given (the CLI passes ``$MEMINDEX_TOKEN``, read once by ``memindex.environment``)
    or read from a file; None when there is none."""
    if token and token.strip():
        return token.strip()
    if token_file:
        return _read_token_file(Path(token_file).expanduser())
    return None


def _read_token_file(path: Path) -> str:
    """The file's stripped text; a ConfigError naming the file and why it cannot serve as a token."""
    if path.is_dir():
        raise ConfigError("the token file is a directory", path=str(path))
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError as exc:
        raise ConfigError("the token file does not exist", path=str(path)) from exc
    except PermissionError as exc:
        raise ConfigError("the token file is not readable (permission denied)", path=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("the token file is not UTF-8 text", path=str(path)) from exc
    except OSError as exc:
        raise ConfigError(f"the token file cannot be read: {exc.strerror or exc}", path=str(path)) from exc
    if not value:
        raise ConfigError("the token file is empty", path=str(path))
    return value


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


async def send_error(send: Any, error: MemIndexError | dict, status: int | None = None) -> None:
    body = error if isinstance(error, dict) else error.to_dict()
    code = status or (error.http_status if isinstance(error, MemIndexError) else 400)
    headers = [(b"content-type", b"application/json")]
    if code == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def _headers(scope: Any, name: bytes) -> list[str]:
    return [v.decode("latin-1").strip() for k, v in scope.get("headers", []) if k.lower() == name]


class HostOriginMiddleware:
    """ASGI middleware against DNS rebinding, in front of every route (``/v1``, ``/mcp``, any other).

    The Host header must be a loopback name of a loopback bind with the server's port, or one of ``hosts``;
    an Origin header, when present, must be ``http(s)://`` one of those hosts or one of ``origins``. On a
    non-loopback bind with nothing configured there is no check (the bearer token is required there).
    """

    LOOPBACK = ("127.0.0.1", "localhost", "[::1]")

    def __init__(
        self,
        app: Any,
        *,
        bind: str = "127.0.0.1",
        port: int | None = None,
        hosts: Sequence[str] = (),
        origins: Sequence[str] = (),
    ) -> None:
        self.app, self.port = app, port
        self.names = (*self.LOOPBACK, _bracket(bind)) if is_loopback(bind) else ()
        self.hosts = frozenset(h.strip().lower() for h in hosts if h.strip())
        self.origins = frozenset(o.strip().lower().rstrip("/") for o in origins if o.strip())

    def allowed_hosts(self, scope: Any) -> frozenset[str]:
        """Host header values answered: loopback names with the bound port (bare too on port 80), ``hosts``."""
        port = self.port or (scope.get("server") or (None, None))[1]
        names = {f"{n}:{port}" for n in self.names} if port else set(self.names)
        if port == 80:
            names.update(self.names)
        return frozenset(names | self.hosts)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or not (self.names or self.hosts or self.origins):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await send_error(send, refusal[1], refusal[0])

    def _refusal(self, scope: Any) -> tuple[int, dict] | None:
        hosts, allowed = _headers(scope, b"host"), self.allowed_hosts(scope)
        if (self.names or self.hosts) and (len(hosts) != 1 or hosts[0].lower() not in allowed):
            given = hosts[0] if len(hosts) == 1 else f"{len(hosts)} Host headers"
            return 421, {"code": "bad_host", "message": f"this server does not answer for Host {given!r}"}
        origins = _headers(scope, b"origin")
        ok = self.origins | {f"{s}://{h}" for h in allowed for s in ("http", "https")}
        if origins and (len(origins) != 1 or origins[0].lower().rstrip("/") not in ok):
            return 403, {"code": "bad_origin", "message": f"requests from origin {origins[0]!r} are not allowed"}
        return None


def _bracket(host: str) -> str:
    """An IPv6 address as the Host header writes it (``[::1]``)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host.lower()


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
            await send_error(send, {"code": "unauthorized", "message": "a valid bearer token is required"}, 401)
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413, declared or chunked.

    The body is read here, before the app runs, so a streamed body over the limit is refused the same way
    as a declared one (FastAPI would turn an error raised while it reads the body into a 400).
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = {"code": "too_large", "message": f"the request body is over {self.limit} bytes"}
        declared = _headers(scope, b"content-length")
        if declared and declared[0].isdigit() and int(declared[0]) > self.limit:
            await send_error(send, too_big, 413)
            return
        buffered = await self._read(receive)
        if buffered is None:
            await send_error(send, too_big, 413)
            return

        async def replay() -> Any:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Any) -> list[dict] | None:
        """The body's messages up to the end (or a disconnect); None once they pass the limit."""
        messages, seen = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            seen += len(message.get("body", b""))
            if seen > self.limit:
                return None
            if not message.get("more_body", False):
                return messages

"""The HTTP API (FastAPI, OpenAPI at ``/openapi.json``) over the service layer, with MCP mounted at ``/mcp``.

Every error is a JSON ``{code, message}`` with the status of its ``MemIndexError`` class (a request that
does not match the schema is ``400 bad_query``); a bug gives a 500 ``{"code": "internal"}`` and the
traceback goes to the log, never to the client. A path whose id does not parse (not a number, negative,
over SQLite's 2**63 - 1) names nothing: 404. The routes are generated from ``memindex.operations``
(``routes.py``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import memindex
from memindex.errors import MemIndexError
from memindex.server.models import refusal
from memindex.server.routes import add_routes
from memindex.server.security import AuthMiddleware, BodyLimitMiddleware, HostOriginMiddleware, send_error
from memindex.server.service import Service
from memindex.server.ui import UiCookieMiddleware, mount_ui

__all__ = ["create_app"]

log = logging.getLogger(__name__)


class _CatchAll:
    """ASGI middleware: an exception no handler took is a 500 ``{code: internal}``, its traceback logged.

    (Starlette's catch-all handler answers and then re-raises, and uvicorn drops the keep-alive connection.)
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if started:  # half a response is out: only closing the connection can tell the client
                raise
            log.exception("internal error on %s %s", scope.get("method"), scope.get("path"))
            await send_error(send, {"code": "internal", "message": "internal server error"}, 500)


def create_app(
    service: Service,
    *,
    token: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    allowed_hosts: Sequence[str] = (),
    allowed_origins: Sequence[str] = (),
    mcp: bool = True,
) -> FastAPI:
    """The FastAPI app in its middlewares: errors, Host/Origin (DNS rebinding), token, body size.

    ``host``/``port`` are the bind; ``port=None`` takes the port each request came in on.
    """
    mcp_server = None
    if mcp:
        from memindex.server.mcp import build_mcp

        mcp_server = build_mcp(service)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if mcp_server is None:
            yield
            return
        async with mcp_server.session_manager.run():
            yield

    app = FastAPI(
        title="memindex",
        version=memindex.__version__,
        lifespan=lifespan,
        description="Search, ask and manage a memindex store (collections of long videos).",
    )
    _errors(app)
    add_routes(app, service)
    mount_ui(app, service)
    if mcp_server is not None:
        from mcp.server.transport_security import TransportSecuritySettings

        off = TransportSecuritySettings(enable_dns_rebinding_protection=False)  # HostOriginMiddleware does it
        mcp_app = mcp_server.streamable_http_app(streamable_http_path="/mcp", host=host, transport_security=off)
        app.router.routes.extend(mcp_app.routes)
    app.add_middleware(BodyLimitMiddleware, limit=service.config.limits.max_body_bytes)
    app.add_middleware(AuthMiddleware, token=token)
    app.add_middleware(UiCookieMiddleware)  # /ui only: the browser's token cookie, outside the token check
    app.add_middleware(HostOriginMiddleware, bind=host, port=port, hosts=allowed_hosts, origins=allowed_origins)
    app.add_middleware(_CatchAll)
    return app


def _errors(app: FastAPI) -> None:
    @app.exception_handler(MemIndexError)
    async def memindex_error(_r: Request, exc: MemIndexError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if errors and all(tuple(e.get("loc", ()))[:1] == ("path",) for e in errors):
            return JSONResponse({"code": "not_found", "message": f"nothing at {request.url.path}"}, status_code=404)
        error = refusal(errors)
        status = 422 if request.url.path.startswith("/ui/") else error.http_status  # the UI's forms keep 422
        return JSONResponse(error.to_dict(), status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_r: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"code": code, "message": str(exc.detail)}, status_code=exc.status_code)

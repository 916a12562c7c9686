"""The HTTP API (FastAPI, OpenAPI at ``/openapi.json``) over the service layer, with MCP mounted at ``/mcp``.

Every error is a JSON ``{code, message}`` with the status of its ``MemIndexError`` class; a bug gives a
500 ``{"code": "internal"}`` and the traceback goes to the log, never to the client. A path whose id does
not parse (not a number, negative, over SQLite's 2**63 - 1) names nothing: 404.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

import memindex
from memindex.errors import MemIndexError
from memindex.server.security import AuthMiddleware, BodyLimitMiddleware, HostOriginMiddleware, send_error
from memindex.server.service import MAX_ROW_ID, Service, check_span, time_range
from memindex.server.ui import UiCookieMiddleware, mount_ui

__all__ = ["create_app"]

log = logging.getLogger(__name__)
COLLECTION = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchRequest(_Strict):
    query: str = Field(max_length=10_000)
    k: int = Field(10, strict=True)
    tiers: list[str] | None = Field(default=None, max_length=16)
    levels: list[str] | None = Field(default=None, max_length=8)
    videos: list[str] | None = Field(default=None, max_length=256)
    start: float | None = None
    end: float | None = None


class AskRequest(_Strict):
    question: str = Field(max_length=10_000)
    max_steps: int | None = Field(None, strict=True)


class IngestRequest(_Strict):
    path: str = Field(max_length=4096)


def _collection(collection: str = Query("default", pattern=COLLECTION)) -> str:
    return collection


def _span(start: float | None = None, end: float | None = None) -> tuple[float | None, float | None]:
    check_span(start, end)
    return start, end


Coll = Depends(_collection)
Span = Depends(_span)
RowId = Annotated[int, PathParam(ge=0, le=MAX_ROW_ID)]


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


def create_app(service: Service, *, token: str | None = None, host: str = "127.0.0.1", port: int | None = None,
               allowed_hosts: Sequence[str] = (), allowed_origins: Sequence[str] = (), mcp: bool = True) -> FastAPI:
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

    app = FastAPI(title="memindex", version=memindex.__version__, lifespan=lifespan,
                  description="Search, ask and manage a memindex store (collections of long videos).")
    _errors(app)
    _reads(app, service)
    _writes(app, service)
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
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in errors[:5]]
        return JSONResponse({"code": "bad_request", "message": "; ".join(parts)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_r: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"code": code, "message": str(exc.detail)}, status_code=exc.status_code)


def _with_urls(frames: list[dict], collection: str) -> list[dict]:
    for f in frames:
        f["url"] = f"/v1/frames/{f['frame_id']}.jpg?collection={collection}"
    return frames


def _reads(app: FastAPI, svc: Service) -> None:
    @app.get("/v1/health")
    def health() -> dict:
        return {"status": "ok", "version": memindex.__version__}

    @app.get("/v1/collections")
    def collections() -> dict:
        return {"collections": svc.collections()}

    @app.get("/v1/stats")
    def stats(collection: str = Coll) -> dict:
        return svc.reader(collection).stats()

    @app.get("/v1/videos")
    def videos(collection: str = Coll) -> dict:
        return {"videos": svc.reader(collection).videos()}

    @app.get("/v1/videos/{video}")
    def video(video: str, collection: str = Coll) -> dict:
        return svc.reader(collection).video(video)

    @app.get("/v1/videos/{video}/transcript")
    def transcript(video: str, span: tuple = Span, collection: str = Coll) -> dict:
        return {"utterances": svc.reader(collection).transcript(video, *span)}

    @app.get("/v1/videos/{video}/screen_text")
    def screen_text(video: str, span: tuple = Span, collection: str = Coll) -> dict:
        return {"lines": svc.reader(collection).screen_text(video, *span)}

    @app.get("/v1/videos/{video}/frames")
    def frames(video: str, span: tuple = Span, n: int | None = None, collection: str = Coll) -> dict:
        return {"frames": _with_urls(svc.frames(collection, video, *span, n), collection)}

    @app.get("/v1/videos/{video}/browse")
    def browse(video: str, level: str = "chapter", span: tuple = Span, collection: str = Coll) -> dict:
        return {"segments": svc.reader(collection).browse(video, level, time_range(*span))}

    @app.get("/v1/segments/{segment_id}")
    def segment(segment_id: RowId, collection: str = Coll) -> dict:
        return svc.segment(collection, segment_id)

    @app.get("/v1/frames/{frame_id}.jpg", response_class=Response,
             responses={200: {"content": {"image/jpeg": {}}}})
    def frame_jpeg(frame_id: RowId, collection: str = Coll) -> Response:
        return Response(svc.frame_jpeg(collection, frame_id), media_type="image/jpeg",
                        headers={"cache-control": "private, max-age=3600"})

    @app.post("/v1/search")
    def search(body: SearchRequest, collection: str = Coll) -> dict:
        hits = svc.search(collection, body.query, k=body.k, tiers=body.tiers, levels=body.levels,
                          videos=body.videos, time_range=time_range(body.start, body.end))
        return {"hits": [h.to_dict() for h in hits]}

    @app.post("/v1/ask")
    def ask(body: AskRequest, collection: str = Coll) -> dict:
        return svc.ask(collection, body.question, max_steps=body.max_steps)

    @app.post("/v1/ask/stream", response_class=StreamingResponse,
              responses={200: {"content": {"text/event-stream": {}}}})
    async def ask_stream(body: AskRequest, collection: str = Coll) -> StreamingResponse:
        steps = await run_in_threadpool(svc.ask_stream, collection, body.question, max_steps=body.max_steps)
        return StreamingResponse(_sse(steps), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})


def _sse(steps: Iterator[dict]) -> Iterator[str]:
    """Server-sent events: ``event: step`` per agent step, ``event: answer`` last (or ``event: error``)."""
    try:
        for step in steps:
            kind = "answer" if step.get("type") == "answer" else "step"
            yield f"event: {kind}\ndata: {json.dumps(step, default=str, ensure_ascii=False)}\n\n"
    except MemIndexError as exc:
        yield f"event: error\ndata: {json.dumps(exc.to_dict())}\n\n"
    except Exception:  # the stream has started: report in-band, log the traceback
        log.exception("ask stream failed")
        yield f"event: error\ndata: {json.dumps({'code': 'internal', 'message': 'internal server error'})}\n\n"


def _writes(app: FastAPI, svc: Service) -> None:
    @app.post("/v1/videos", status_code=202)
    def add_video(body: IngestRequest, collection: str = Coll) -> dict:
        return svc.submit_ingest(collection, body.path).to_dict()

    @app.get("/v1/jobs/{job_id}")
    def job(job_id: str, collection: str = Coll) -> dict:
        return svc.job(job_id, collection).to_dict()

    @app.get("/v1/jobs")
    def jobs(collection: str = Coll) -> dict:
        return {"jobs": [j.to_dict() for j in svc.jobs(collection)]}

    @app.delete("/v1/videos/{video}")
    def delete_video(video: str, collection: str = Coll) -> dict:
        return svc.delete_video(collection, video)


"""The web UI at ``/ui/``: server-rendered pages over the service layer, in the same app and behind the same
Host/Origin and token middlewares as the API.

    /ui/                       library: videos with duration, languages, stage status, thumbnail; filters, totals
    /ui/videos/{id}?t=S        zoomable timeline, transcript, playback of the original (range requests)
    /ui/search?q=...&mode=ask  hits as cards; ``ask`` shows the answer, its evidence and the agent's steps
    /ui/entities[/{id}]        speakers, faces, names: rename, merge and split (``/ui/api/entities/...``)

With a token set, a page asks for it once (``POST /ui/login`` with the bearer header, which the token
middleware checks) and keeps it in an HttpOnly, SameSite=Strict cookie scoped to ``/ui``; ``UiCookieMiddleware``
turns that cookie back into the bearer header for ``/ui`` requests only, and refuses a ``/ui`` write without
the UI's own ``x-memindex-ui`` header (a cross-site form cannot send one).
"""

from __future__ import annotations

import functools
import math
import mimetypes
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from memindex.errors import MemIndexError, NotFoundError, QueryError
from memindex.server import ui_pages as pages
from memindex.server.security import send_error
from memindex.server.service import MAX_ROW_ID, Service
from memindex.server.ui_data import LibraryFilter, library, original_file, timeline
from memindex.server.ui_pages import Links, Nav
from memindex.server.ui_timeline import thumbnail, video_page

__all__ = ["mount_ui", "build_router", "UiCookieMiddleware", "COOKIE", "UI_HEADER"]

PREFIX = "/ui"
COOKIE = "memindex_token"
UI_HEADER = "x-memindex-ui"
CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
ASSETS = {"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"}
WIDTHS = range(32, 1281)


def mount_ui(app: FastAPI, service: Service) -> None:
    """Add the UI's routes to the API's app (its middlewares then cover them too)."""
    app.include_router(build_router(service))


def _is_ui(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def _is_page(path: str) -> bool:
    """A path a browser navigates to (answered with the login page when the token is missing)."""
    return not any(path.startswith(PREFIX + p) for p in ("/api/", "/frames/", "/static/")) and not path.endswith(
        "/file"
    )


def _cookie(scope: Any) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() != b"cookie":
            continue
        for part in value.decode("latin-1").split(";"):
            name, _, val = part.strip().partition("=")
            if name == COOKIE and val:
                return unquote(val)
    return None


class UiCookieMiddleware:
    """ASGI middleware, between the Host/Origin check and the token check, for ``/ui`` paths only."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not _is_ui(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = list(scope.get("headers", []))
        names = {k.lower() for k, _ in headers}
        if scope["method"] not in ("GET", "HEAD") and UI_HEADER.encode() not in names:
            await send_error(
                send,
                {"code": "forbidden", "message": f"UI writes need the {UI_HEADER} header (the UI's own pages send it)"},
                403,
            )
            return
        token = _cookie(scope)
        if token and b"authorization" not in names:
            headers.append((b"authorization", f"Bearer {token}".encode("latin-1", "replace")))
            scope = {**scope, "headers": headers}
        if scope["method"] == "GET" and _is_page(scope["path"]):
            send = _login_on_401(send)
        await self.app(scope, receive, send)


def _login_on_401(send: Callable) -> Callable:
    """Wrap ``send`` so that a 401 to a page comes back as the login page (still 401)."""
    replaced = False

    async def wrapped(message: dict) -> None:
        nonlocal replaced
        if message["type"] == "http.response.start" and message["status"] == 401:
            replaced = True
            body = pages.login_page(PREFIX).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"text/html; charset=utf-8"),
                        (b"www-authenticate", b"Bearer"),
                        (b"cache-control", b"no-store"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        elif not replaced:
            await send(message)

    return wrapped


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RenameBody(_Strict):
    name: str = Field(min_length=1, max_length=200)


class MergeBody(_Strict):
    sources: list[str | int] = Field(min_length=1, max_length=100)


class SplitBody(_Strict):
    mention_ids: list[int] | None = Field(default=None, max_length=10_000)
    video: str | None = Field(default=None, max_length=4096)
    start: float | None = None
    end: float | None = None
    name: str | None = Field(default=None, max_length=200)


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        text,
        status_code=status,
        headers={"content-security-policy": CSP, "x-content-type-options": "nosniff", "cache-control": "no-cache"},
    )


def _short(entity: dict) -> dict:
    return {k: entity[k] for k in ("id", "kind", "name", "user_named", "mentions", "videos", "label") if k in entity}


def build_router(svc: Service) -> APIRouter:
    """The UI's routes over ``svc``; pages answer errors as HTML, ``/ui/api`` as JSON ``{code, message}``."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    assets = {name: pages.asset(f"static/{name}") for name in ASSETS}

    def render(collection: str, build: Callable[[Links, Nav], str]) -> HTMLResponse:
        links = Links(collection=collection, base=PREFIX)
        nav = Nav(collections=svc.collections())
        try:
            svc.reader(collection)
            return _html(build(links, nav))
        except MemIndexError as exc:
            return _html(pages.error_page(links, exc.code, str(exc), nav), exc.http_status)

    @functools.lru_cache(maxsize=4096)
    def small(collection: str, frame_id: int, width: int) -> bytes:
        return thumbnail(svc.frame_jpeg(collection, frame_id), width)

    @router.get("/")
    @router.get("", name="library_bare")
    def library_page(
        collection: str = "default",
        q: str = Query("", max_length=500),
        state: str = "",
        language: str = Query("", max_length=32),
        page: int = Query(1, ge=1, le=1_000_000),
    ) -> HTMLResponse:
        def build(links: Links, nav: Nav) -> str:
            flt = LibraryFilter(q=q.strip(), state=state, language=language, page=page)
            return pages.library_page(links, library(svc.reader(collection), flt), flt, nav)

        return render(collection, build)

    @router.get("/videos/{video}")
    def video(video: str, collection: str = "default", t: float = 0.0) -> HTMLResponse:
        def build(links: Links, nav: Nav) -> str:
            if not math.isfinite(t):
                raise QueryError(f"t must be a finite number of seconds, not {t!r}")
            tl = timeline(svc.reader(collection), video)
            playable = original_file(tl["video"]) is not None
            return video_page(tl, links, min(max(t, 0.0), tl["duration"]), playable, nav)

        return render(collection, build)

    @router.get("/videos/{video}/file")
    def video_file(video: str, collection: str = "default") -> FileResponse:
        info = svc.reader(collection).video(video)
        path = original_file(info)
        if path is None:
            raise NotFoundError(
                "the original file is no longer where it was ingested from (or it changed)",
                path=info["uri"],
                video_id=info["id"],
            )
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=kind, headers={"cache-control": "private, max-age=600"})

    @router.get("/frames/{frame_id}.jpg")
    def frame(
        frame_id: int = PathParam(ge=0, le=MAX_ROW_ID), collection: str = "default", w: int | None = None
    ) -> Response:
        if w is not None and w not in WIDTHS:
            raise QueryError(f"w must be from {WIDTHS.start} to {WIDTHS.stop - 1} pixels, not {w}")
        data = small(collection, frame_id, w) if w else svc.frame_jpeg(collection, frame_id)
        return Response(data, media_type="image/jpeg", headers={"cache-control": "private, max-age=86400"})

    _search_routes(router, svc, render)
    _entity_routes(router, svc, render)
    _session_routes(router)

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in assets:
            raise NotFoundError(f"no UI asset {name!r}")
        return Response(assets[name], media_type=ASSETS[name], headers={"cache-control": "private, max-age=3600"})

    return router


def _search_routes(router: APIRouter, svc: Service, render: Callable) -> None:
    @router.get("/search")
    def search(
        q: str = "", mode: str = "search", collection: str = "default", k: int = Query(20, ge=1, le=100)
    ) -> HTMLResponse:
        def build(links: Links, nav: Nav) -> str:
            query = q.strip()
            if not query:
                return pages.search_page(links, "", None, None, nav)
            answer = svc.ask(collection, query) if mode == "ask" else None
            hits = None if answer else [h.to_dict() for h in svc.search(collection, query, k=k)]
            return pages.search_page(links, query, hits, answer, nav)

        return render(collection, build)


def _entity_routes(router: APIRouter, svc: Service, render: Callable) -> None:
    @router.get("/entities")
    def entities(collection: str = "default", kind: str = "", q: str = Query("", max_length=200)) -> HTMLResponse:
        def build(links: Links, nav: Nav) -> str:
            rows = svc.reader(collection).entities(kind or None, q.strip() or None)
            return pages.entities_page(links, rows, kind, q, nav)

        return render(collection, build)

    @router.get("/entities/{ref}")
    def entity(ref: str, collection: str = "default") -> HTMLResponse:
        return render(collection, lambda links, nav: pages.entity_page(links, svc.reader(collection).entity(ref), nav))

    @router.post("/api/entities/{ref}/rename")
    def rename(ref: str, body: RenameBody, collection: str = "default") -> dict:
        return _short(svc.reader(collection).rename_entity(ref, body.name))

    @router.post("/api/entities/{ref}/merge")
    def merge(ref: str, body: MergeBody, collection: str = "default") -> dict:
        return _short(svc.reader(collection).merge_entities(ref, body.sources))

    @router.post("/api/entities/{ref}/split")
    def split(ref: str, body: SplitBody, collection: str = "default") -> dict:
        for name, value in (("start", body.start), ("end", body.end)):
            if value is not None and not math.isfinite(value):
                raise QueryError(f"{name} must be a finite number of seconds, not {value!r}")
        out = svc.reader(collection).split_entity(
            ref, mention_ids=body.mention_ids, video=body.video, start=body.start, end=body.end, name=body.name
        )
        return {"from": _short(out["from"]), "new": _short(out["new"])}


def _session_routes(router: APIRouter) -> None:
    @router.post("/login")
    def login(request: Request) -> Response:
        """Reached only with a valid bearer token (the token middleware checked it): keep it in the cookie."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        response = JSONResponse({"status": "ok"})
        if scheme.lower() == "bearer" and value.strip():
            response.set_cookie(
                COOKIE,
                quote(value.strip(), safe=""),
                path=PREFIX,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        return response

    @router.post("/logout")
    def logout() -> Response:
        response = JSONResponse({"status": "ok"})
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

"""The HTTP routes, generated from ``memindex.operations``: one route per operation at its ``method path``,
``operationId`` = the operation's name, request models built from its parameters (bounded by the server's
limits), a typed response model, and its ``{code, message}`` errors documented per route.

The OpenAPI document also carries the bearer security scheme and the server's limits (``x-limits``), which
are the ones the routes enforce.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query
from fastapi import Path as PathParam
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from memindex.errors import MemIndexError
from memindex.operations import COLLECTION_PATTERN, OPERATIONS, Operation
from memindex.server import handlers
from memindex.server.models import RESULTS, Error, request_model
from memindex.server.service import Service

__all__ = ["add_routes", "install_openapi", "error_responses"]

log = logging.getLogger(__name__)
_CAUSES = {
    400: "bad_query (a parameter out of range or of the wrong type) or config",
    401: "unauthorized: the bearer token is missing or wrong",
    403: "forbidden_path (outside the allowed roots) or bad_origin",
    404: "not_found: no such collection, video, segment, frame, entity or job",
    409: "schema, read_only or encoder_mismatch: the store cannot take this write",
    413: "too_large: the request body is over the limit (x-limits.max_body_bytes)",
    422: "media: the file is not a readable video",
    500: "internal (details in the server's log) or store",
    502: "llm: the LLM endpoint the agent uses failed",
    507: "store_full: no space left while committing",
}


def error_responses(op: Operation) -> dict[int | str, dict[str, Any]]:
    """The error statuses ``op`` can answer, each with the ``Error`` body."""
    codes = {400, 404, 500} | ({401} if op.auth else set())
    if op.method == "POST":
        codes.add(413)
    if not op.read_only:
        codes |= {409, 507}
    if op.name == "add_video":
        codes |= {403, 422}
    if op.name in ("ask", "ask_stream"):
        codes.add(502)
    return {code: {"model": Error, "description": _CAUSES[code]} for code in sorted(codes)}


def _collection(
    collection: str = Query("default", pattern=COLLECTION_PATTERN, description="Collection (namespace) of the store."),
) -> str:
    return collection


def _path_annotation(op: Operation, name: str) -> Any:
    p = op.param(name)
    if p.type == "integer":
        return Annotated[int, PathParam(ge=p.minimum, le=p.maximum, description=p.description)]
    return Annotated[str, PathParam(description=p.description, max_length=p.max_length)]


def _signature(op: Operation, limits: dict[str, int]) -> tuple[inspect.Signature, bool]:
    """The endpoint's parameters: path ones, then the arguments model (query string for GET and DELETE,
    JSON body otherwise) and the collection."""
    kw = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter(n, kw, annotation=_path_annotation(op, n)) for n in op.path_params]
    in_query = op.method in ("GET", "DELETE")
    exclude = op.path_params if in_query else (*op.path_params, "collection")
    model = request_model(op, limits, exclude=exclude, suffix="Query" if in_query else "Body")
    has_args = bool(model.model_fields)
    if has_args:
        annotation = Annotated[model, Query()] if in_query else model
        params.append(inspect.Parameter("args", kw, annotation=annotation))
    if op.collection and not in_query:
        params.append(inspect.Parameter("collection", kw, annotation=str, default=Depends(_collection)))
    return inspect.Signature(params), has_args


def _arguments(op: Operation, values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    args = {n: values[n] for n in op.path_params}
    model = values.get("args")
    if isinstance(model, BaseModel):
        args.update(model.model_dump())
    collection = args.pop("collection", None) or values.get("collection") or "default"
    return collection, args


def _endpoint(op: Operation, svc: Service, limits: dict[str, int]) -> Callable[..., Any]:
    signature, _ = _signature(op, limits)
    if op.result == "AnswerStream":

        async def stream(**values: Any) -> StreamingResponse:
            collection, args = _arguments(op, values)
            steps = await run_in_threadpool(handlers.call, svc, op.name, collection, args)
            return StreamingResponse(_sse(steps), media_type="text/event-stream", headers={"cache-control": "no-cache"})

        endpoint: Callable[..., Any] = stream
    elif op.result == "JPEG":

        def jpeg(**values: Any) -> Response:
            collection, args = _arguments(op, values)
            return Response(
                handlers.call(svc, op.name, collection, args),
                media_type="image/jpeg",
                headers={"cache-control": "private, max-age=3600"},
            )

        endpoint = jpeg
    else:

        def plain(**values: Any) -> Any:
            collection, args = _arguments(op, values)
            return handlers.call(svc, op.name, collection, args)

        endpoint = plain
    endpoint.__signature__ = signature  # type: ignore[attr-defined]
    endpoint.__name__ = op.name
    return endpoint


def _route_options(op: Operation) -> dict[str, Any]:
    options: dict[str, Any] = {
        "operation_id": op.name,
        "summary": op.title,
        "description": op.description,
        "responses": error_responses(op),
        "tags": ["writes" if not op.read_only else "reads"],
        "openapi_extra": {"security": [{"bearer": []}] if op.auth else []},
    }
    if op.result == "AnswerStream":
        options["response_class"] = StreamingResponse
        options["responses"][200] = {
            "content": {"text/event-stream": {}},
            "description": "event: step per agent step; event: answer last",
        }
    elif op.result == "JPEG":
        options["response_class"] = Response
        options["responses"][200] = {"content": {"image/jpeg": {}}, "description": "The keyframe"}
    else:
        options["response_model"] = RESULTS[op.result]
        options["response_model_exclude_unset"] = True  # what the operation returned, checked, no more
    if op.job:
        options["status_code"] = 202
    return options


def add_routes(app: FastAPI, svc: Service) -> None:
    """Every operation of the table as a route of ``app``."""
    limits = svc.config.limits.published()
    for op in OPERATIONS:
        app.add_api_route(op.path, _endpoint(op, svc, limits), methods=[op.method], **_route_options(op))
    install_openapi(app, limits)


def install_openapi(app: FastAPI, limits: dict[str, int]) -> None:
    """The bearer scheme and the enforced limits in ``/openapi.json``; FastAPI's own 422 shape removed."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = build()
        components = spec.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "The server's token (--token-file or $MEMINDEX_TOKEN); required off loopback.",
        }
        for item in spec.get("paths", {}).values():  # requests that fail the schema are 400 bad_query
            for route in item.values():
                answer = route.get("responses", {}).get("422", {})
                if "HTTPValidationError" in json.dumps(answer):
                    del route["responses"]["422"]
        for name in ("HTTPValidationError", "ValidationError"):
            components.get("schemas", {}).pop(name, None)
        spec["info"]["x-limits"] = dict(limits)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


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

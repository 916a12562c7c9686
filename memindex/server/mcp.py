"""The MCP server (official ``mcp`` SDK): the operations of ``memindex.operations`` marked ``mcp`` as tools.

Each tool is built from its row of the table: the description, an input schema with a description, enum
and bounds per parameter (bounded by the server's limits), annotations (read-only, destructive,
idempotent; never open-world), and the output schema of its result model. A result is one compact JSON
object, sent as ``structuredContent`` and, for clients that read only ``content``, as one compact text
block; ``frames`` adds the keyframes as JPEG images. Keyframes are URLs relative to the server
(``/v1/frames/{id}.jpg?collection=...``), never paths on its disk. Errors are tool errors whose text ends
with the ``{code, message}`` JSON the HTTP API returns; a bug is ``{"code": "internal"}`` with its
traceback in the server's log only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import memindex
from memindex.errors import MemIndexError
from memindex.operations import OPERATIONS, Operation
from memindex.server import handlers
from memindex.server.models import RESULTS, request_model, validate
from memindex.server.service import Service

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["build_mcp", "TOOLS", "compact"]

log = logging.getLogger(__name__)
TOOLS = tuple(op.name for op in OPERATIONS if op.mcp)
INSTRUCTIONS = (
    "A memory of long videos. Start with `search` (ranked moments) or `ask` (an answer citing timestamped "
    "moments); narrow with `browse`, `transcript`, `screen_text` and `frames`; `entities`/`entity` for people "
    "and topics. Cite results by video_id (or uri), start and end (seconds). Every tool takes an optional "
    "`collection`. Keyframe URLs are relative to this server."
)


def compact(data: Any) -> str:
    """JSON without indentation or spaces (what the tools send)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def build_mcp(svc: Service) -> Any:
    """An ``MCPServer`` whose tools call ``svc``; serve it over stdio or mount its streamable HTTP app."""
    from mcp.server.mcpserver import MCPServer

    limits = svc.config.limits.published()
    tools = [_tool(op, svc, limits) for op in OPERATIONS if op.mcp]
    root = logging.getLogger()
    guard = logging.NullHandler()
    root.addHandler(guard)  # MCPServer() calls logging.basicConfig; a library must not configure logging
    try:
        return MCPServer(
            "memindex",
            title="memindex",
            version=memindex.__version__,
            instructions=INSTRUCTIONS,
            log_level="WARNING",
            tools=tools,
        )
    finally:
        root.removeHandler(guard)


def _raw_arguments() -> type:
    """An argument model that takes any object and hands it over whole: the tool checks it itself, so a bad
    argument is a ``{code: bad_query}`` tool error like every other error."""
    from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
    from pydantic import ConfigDict

    class RawArguments(ArgModelBase):
        model_config = ConfigDict(extra="allow")

        def model_dump_one_level(self) -> dict[str, Any]:
            return {"arguments": dict(self.model_extra or {})}

    return RawArguments


def _tool(op: Operation, svc: Service, limits: dict[str, int]) -> Any:
    from mcp.server.mcpserver.tools import Tool
    from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
    from mcp_types import ToolAnnotations

    result = RESULTS[op.result]
    schema = _lean(result.model_json_schema(by_alias=True))
    return Tool(
        fn=_run(op, svc, request_model(op, limits, suffix="Arguments"), result),
        name=op.name,
        title=op.title,
        description=op.description,
        parameters=op.input_schema(limits),
        fn_metadata=FuncMetadata(arg_model=_raw_arguments(), output_schema=schema),
        is_async=False,
        context_kwarg=None,
        annotations=ToolAnnotations(
            title=op.title,
            read_only_hint=op.read_only,
            destructive_hint=op.destructive,
            idempotent_hint=op.idempotent,
            open_world_hint=False,
        ),
    )


def _lean(schema: Any) -> Any:
    """A JSON Schema without pydantic's generated ``title`` keywords (they repeat the names; an agent's
    context pays for every byte of ``tools/list``)."""
    if isinstance(schema, list):
        return [_lean(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in ("properties", "$defs"):  # maps of names: a field may be called "title"
            out[key] = {name: _lean(sub) for name, sub in value.items()}
        elif not (key == "title" and isinstance(value, str)):
            out[key] = _lean(value)
    return out


def _run(
    op: Operation, svc: Service, arguments_model: type[BaseModel], result_model: type[BaseModel]
) -> Callable[..., Any]:
    def run(arguments: dict[str, Any]) -> Any:
        from mcp.server.mcpserver.exceptions import ToolError

        try:
            args = validate(arguments_model, _lists(op, arguments))
            collection = args.pop("collection")
            data = result_model.model_validate(handlers.call(svc, op.name, collection, args))
            out = data.model_dump(mode="json", by_alias=True, exclude_unset=True)
            images = _images(svc, collection, out) if op.name == "frames" else []
        except MemIndexError as exc:
            raise ToolError(compact(exc.to_dict())) from exc
        except Exception as exc:
            log.exception("MCP tool %s failed", op.name)
            raise ToolError(compact({"code": "internal", "message": "internal server error"})) from exc
        return _result(out, images)

    run.__name__ = op.name
    return run


def _lists(op: Operation, arguments: dict[str, Any]) -> dict[str, Any]:
    """Array arguments some clients send as JSON text (``'["speech"]'``) parsed back into lists."""
    out = dict(arguments)
    for p in op.parameters:
        value = out.get(p.name)
        if p.type == "array" and isinstance(value, str) and value.lstrip().startswith("["):
            try:
                out[p.name] = json.loads(value)
            except ValueError:
                pass  # left as it is: validation names the parameter
    return out


def _images(svc: Service, collection: str, out: dict[str, Any]) -> list[Any]:
    from mcp.server.mcpserver import Image

    return [
        Image(data=svc.frame_jpeg(collection, f["frame_id"]), format="jpeg").to_image_content() for f in out["frames"]
    ]


def _result(out: dict[str, Any], images: list[Any]) -> Any:
    from mcp_types import CallToolResult, TextContent

    return CallToolResult(content=[TextContent(type="text", text=compact(out)), *images], structured_content=out)

"""The command line's options, made from the table of operations (``memindex.operations``).

A command that runs an operation gets one argument per parameter of its row: a required parameter is a
positional argument, another one ``--name-with-dashes``; the type, the enum (as ``choices``), the bounds
(checked, with an error naming the option), the description (as the help) and the default are the table's.
``Spelling`` keeps a command's existing spelling where it differs (``query TEXT``, ``--video`` repeated,
``rebuild --stage``). The options that only shape what the CLI prints (``--json``, ``--format``) and where
it reads (``--store``, ``--collection``) are written here, once, and so is every command's parser
(``build_parser``; ``memindex.cli`` runs what it parses).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from memindex.errors import QueryError
from memindex.operations import COLLECTION, REQUIRED, Param, operation

__all__ = [
    "build_parser",
    "Spelling",
    "add_operation",
    "operation_args",
    "flag_of",
    "add_json",
    "add_store",
    "add_format",
]

_CONVERT: dict[str, type] = {"integer": int, "number": float, "string": str}
_KIND = {"integer": "an integer", "number": "a number", "string": "a string"}
_TABLE: Any = REQUIRED  # a Spelling's default that means "the table's default"


@dataclass(frozen=True)
class Spelling:
    """How a command spells one parameter where the default one does not fit.

    ``flags``: option strings (``()``: positional); ``repeat``: an array as a repeatable option
    (``--video A --video B``) instead of ``--videos A B``; ``many``: a single-value parameter the command
    takes several of (``delete VIDEO...``); ``default``/``required``: the command's own."""

    flags: tuple[str, ...] | None = None
    metavar: str | None = None
    repeat: bool = False
    many: bool = False
    default: Any = _TABLE
    required: bool | None = None


def flag_of(param: Param) -> str:
    """The option a parameter gets by default: ``max_steps`` → ``--max-steps``."""
    return "--" + param.name.replace("_", "-")


def add_operation(p: argparse.ArgumentParser, op_name: str, **spellings: Spelling) -> None:
    """One argument per parameter of the operation (``collection`` is the global ``--collection``; the
    wire-only ones, which only shape what a server sends, are not options: the CLI prints the whole result).
    The operation is recorded as the command's ``operation`` default (``operation_args`` reads it back)."""
    op = operation(op_name)
    unknown = set(spellings) - {q.name for q in op.params}
    if unknown:
        raise KeyError(f"{op_name} has no parameter(s) {sorted(unknown)}")
    for param in op.params:
        if not param.wire:
            _add_param(p, param, spellings.get(param.name, Spelling()))
    p.set_defaults(operation=op_name)


def _add_param(p: argparse.ArgumentParser, param: Param, spell: Spelling) -> None:
    flags = spell.flags if spell.flags is not None else (() if param.required else (flag_of(param),))
    kw: dict[str, Any] = {"help": param.description.replace("%", "%%")}
    if param.type == "boolean":
        kw.update(action="store_true")
    else:
        kw.update(type=_parser(param, flags[0] if flags else param.name))
        if param.enum:
            kw.update(choices=param.enum)
        if param.type == "array" and spell.repeat:
            kw.update(action="append", help=kw["help"] + " Repeatable.")
        elif param.type == "array":
            kw.update(nargs="+")
        elif spell.many:
            kw.update(nargs="+")
        if spell.metavar:
            kw.update(metavar=spell.metavar)
    if flags:
        default = param.default if spell.default is _TABLE else spell.default
        kw.update(dest=param.name, default=None if default is REQUIRED else default)
        if spell.required or (spell.required is None and param.required):
            kw.update(required=True)
        p.add_argument(*flags, **kw)
    else:
        p.add_argument(param.name, **kw)


def _parser(param: Param, shown: str) -> Any:
    """The argument's ``type``: the value converted and checked against the table's bounds; out of bounds is
    a ``QueryError`` naming the option (argparse lets it through, so ``main`` prints ``error [bad_query]``)."""
    kind = param.items if param.type == "array" and param.items else param.type
    convert = _CONVERT[kind]

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {_KIND[kind]}") from None
        low, high = param.minimum, param.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"from {low:g} to {high:g}" if low is not None and high is not None else f">= {low:g}"
            raise QueryError(f"{shown} must be {_KIND[kind]} {bounds}, not {text}")
        return value

    parse.__name__ = kind  # argparse names the type in its messages
    return parse


def operation_args(args: argparse.Namespace, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The parsed values of the command's operation, by parameter name (what the library methods take)."""
    op = operation(args.operation)
    return {p.name: getattr(args, p.name) for p in op.params if hasattr(args, p.name) and p.name not in skip}


def add_store(p: argparse.ArgumentParser, top: bool = False) -> None:
    """``--store``/``--collection``: before the command (``top``) and after it (``memindex entities list
    --store S``); after the command they override the ones before."""
    default = None if top else argparse.SUPPRESS
    where = "store directory or server URL (env MEMINDEX_STORE, else ./memindex-store)"
    p.add_argument("--store", default=default, help=where)
    p.add_argument("--collection", default=default, help=COLLECTION.description.replace("%", "%%"))


def add_json(p: argparse.ArgumentParser, what: str = "print the result as JSON (stdout: nothing else)") -> None:
    p.add_argument("--json", action="store_true", help=what)


def add_format(p: argparse.ArgumentParser, choices: tuple[str, ...], help: str | None = None) -> None:
    """``--format``, the first choice the default."""
    p.add_argument("--format", default=choices[0], choices=choices, help=help or f"output format: {', '.join(choices)}")


_Add = Callable[[str, str], argparse.ArgumentParser]


def _add_config_flags(p: argparse.ArgumentParser, what: str = "") -> None:
    """The ingest config options of ``ingest`` and ``serve`` (they make an ``IngestConfig``)."""
    p.add_argument("--no-ocr", action="store_true", help=f"{what}skip on-screen text")
    p.add_argument("--no-asr", action="store_true", help=f"{what}skip speech")
    p.add_argument("--asr-model", help="faster-whisper model name or path ('packaged' = tiny.en offline)")


def _add_ingest(add: _Add) -> None:
    p = add("ingest", "Ingest video files and folders (recursively) into the store.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="video files and folders")
    add_json(p, "print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_config_flags(p)
    p.add_argument(
        "--executor",
        metavar="NAME",
        help="where videos are analyzed: inline (the default), local, ray, or an installed plugin's name",
    )
    p.add_argument(
        "--workers",
        type=int,
        nargs="?",
        const=0,
        metavar="N",
        help="analyze in N local worker processes (no N: one per core)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="analyze as Ray tasks on the cluster at ADDRESS (no ADDRESS: $RAY_ADDRESS, else a local one)",
    )


_VIDEO_REPEATED = Spelling(flags=("--video",), repeat=True, metavar="VIDEO")


def _add_reads(add: _Add) -> None:
    """The commands made from read operations (their options are the table's)."""
    p = add("query", "Search speech, screen text and keyframes; print ranked moments.")
    add_operation(p, "search", query=Spelling(metavar="TEXT"), k=Spelling(flags=("--k", "-k")), videos=_VIDEO_REPEATED)
    add_json(p, 'print {"hits": [...]} only')
    p = add("ask", "Answer a question with timestamped evidence (retrieval agent).")
    add_operation(p, "ask", question=Spelling(metavar="QUESTION"), videos=_VIDEO_REPEATED)
    add_json(p)
    p = add("stats", "Videos, duration, segments per level, rows per tier, pending stages.")
    add_operation(p, "stats")
    add_json(p)
    p = add("videos", "List the videos in the store.")
    add_operation(p, "videos")
    add_json(p)
    p = add("show", "Print a video's segment tree.")
    add_operation(p, "browse", video=Spelling(metavar="VIDEO"), level=Spelling(default="video"))
    add_json(p)
    p.add_argument("--html", metavar="OUT.html", help="write the video's timeline as a self-contained HTML report")
    p = add("transcript", "Print a video's transcript (optionally a time span).")
    add_operation(p, "transcript", video=Spelling(metavar="VIDEO"))
    add_format(p, ("text", "srt", "vtt", "json"))
    add_json(p, "same as --format json")


def _add_writes(add: _Add) -> None:
    """The commands made from write operations."""
    p = add("delete", "Delete videos and everything derived from them.")
    add_operation(p, "delete_video", video=Spelling(many=True, metavar="VIDEO"))
    add_json(p)
    p = add("check", "Verify the store: catalog, tier checksums and vectors, media, temp files.")
    add_operation(p, "check")
    add_json(p)
    p = add("backfill", "Fill a pending stage (visual: keyframe vectors once CLIP loads).")
    add_operation(p, "backfill")
    p = add("rebuild", "Re-derive a stage from stored data (events, captions, semantic), atomically.")
    add_operation(p, "rebuild", stage=Spelling(flags=("--stage",)), videos=_VIDEO_REPEATED)


def _add_tools(add: _Add) -> None:
    """Commands that are not operations of the table."""
    p = add("eval", "Evaluate the agent against single-shot search on a JSONL question set.")
    p.add_argument("dataset", help="JSONL of {question, video, start, end, answer?}")
    p.add_argument("--max-steps", type=int, default=4, help="most tool calls the agent may make per question")
    add_json(p, "print the full report as JSON")
    p = add("doctor", "Report models, extras, ffmpeg, GPU and the store's health.")
    add_json(p)
    p = add("sql", "Read-only SQL (DuckDB) over the catalog's views; see docs/analytics.md.")
    p.add_argument("query", help='e.g. "SELECT name, duration FROM videos"')
    add_format(p, ("table", "json", "csv"))
    p = add("export", "Write every analytics view as a Parquet file into FOLDER.")
    p.add_argument("folder")
    add_format(p, ("parquet",))


def _add_serve(add: _Add) -> None:
    p = add("serve", "Serve the store over HTTP (/v1, OpenAPI) and MCP (/mcp, or --mcp-stdio).")
    p.add_argument("--host", default="127.0.0.1", help="bind address; anything but loopback needs a token")
    p.add_argument("--port", type=int, default=8765, help="TCP port")
    p.add_argument("--allow", action="append", help="a folder videos may be ingested from (repeatable)")
    p.add_argument("--token-file", help="file holding the bearer token (else $MEMINDEX_TOKEN)")
    p.add_argument("--allow-host", action="append", help="a Host header to answer besides loopback (repeatable)")
    p.add_argument("--allow-origin", action="append", help="a browser Origin allowed to call (repeatable)")
    p.add_argument("--mcp-stdio", action="store_true", help="speak MCP over stdin/stdout instead of HTTP")
    _add_config_flags(p, "ingest jobs: ")


_ENTITY = Spelling(metavar="ENTITY")


def _add_entities(add: _Add) -> None:
    p = add("entities", "List, show, rename, merge and split entities (speakers, names, terms).")
    acts = p.add_subparsers(dest="action", required=True)
    for action, op_name, help_, spellings in (
        ("list", "entities", "entities, most mentioned first", {}),
        ("show", "entity", "one entity with its mentions and facts", {"name_or_id": _ENTITY}),
        ("rename", "rename_entity", "rename (sticks)", {"name_or_id": _ENTITY, "name": Spelling(metavar="NAME")}),
        (
            "merge",
            "merge_entities",
            "fold other entities into this one",
            {"target": Spelling(metavar="TARGET"), "sources": Spelling(metavar="SOURCE")},
        ),
        (
            "split",
            "split_entity",
            "move mentions to a new entity",
            {"name_or_id": _ENTITY, "mention_ids": Spelling(flags=("--mention",), repeat=True, metavar="ID")},
        ),
    ):
        a = acts.add_parser(action, help=help_, description=operation(op_name).description)
        add_store(a)
        add_operation(a, op_name, **spellings)
        if action == "list":
            add_json(a)
        else:
            a.set_defaults(json=True)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (``memindex.cli.main`` runs the command it parses)."""
    from memindex import __version__

    parser = argparse.ArgumentParser(prog="memindex", description="Hierarchical multimodal memory for long videos.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("--version", action="version", version=f"memindex {__version__}")
    add_store(parser, top=True)
    sub = parser.add_subparsers(dest="command")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        add_store(p)
        return p

    for group in (_add_ingest, _add_reads, _add_writes, _add_tools, _add_serve, _add_entities):
        group(add)
    return parser

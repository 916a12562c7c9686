"""The ``memindex`` command line: parses into a context, then calls the library (``memindex.open``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from memindex.errors import ConfigError, MemIndexError

__all__ = ["main", "build_parser"]

log = logging.getLogger("memindex.cli")
FALLBACK_STORE = "memindex-store"


def _open(args: argparse.Namespace, create: bool = False) -> Any:
    import memindex

    return memindex.open(args.store, collection=args.collection, create=create)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def cmd_ingest(args: argparse.Namespace) -> int:
    """Exit 0: every file ingested or skipped; 1: some files failed; 2: a store-wide fault stopped the batch."""
    from memindex.cli_progress import progress_display

    options = _executor_options(args)
    index = _open(args, create=True)
    if args.no_ocr or args.no_asr or args.asr_model:
        options["config"] = _ingest_config(args)
    with progress_display(enabled=not args.quiet and not args.json) as on_event:
        report = index.ingest(args.paths, progress=on_event, **options)
    stopped = getattr(report, "stopped", None)
    for item in report.failed[:-1] if stopped else report.failed:  # the last one is said by the stop line
        print(f"FAILED {_printable(item['path'])}: {_printable(item['error'])}", file=sys.stderr)
    for item in report.skipped:
        if not item.get("reason", "already").startswith("already"):
            print(f"SKIPPED {_printable(item['path'])}: {item['reason']}", file=sys.stderr)
    if stopped:
        print(
            f"error [{stopped['code']}]: {_printable(stopped['error'])}; the batch stopped with "
            f"{stopped['not_tried']} file(s) not tried (a re-run resumes)",
            file=sys.stderr,
        )
    if args.json:
        _print_json(report.to_dict())
    else:
        print(
            f"ingested {len(report.ingested)}, skipped {len(report.skipped)}, failed {len(report.failed)}",
            file=sys.stderr,
        )
    return 2 if stopped else 0 if report.ok else 1


def _executor_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--executor NAME``, ``--workers [N]`` (local) and ``--ray [ADDRESS]`` as ingester options."""
    chosen = {
        name
        for name, on in (
            ("local", args.workers is not None),
            ("ray", args.ray is not None),
            (args.executor, args.executor is not None),
        )
        if on
    }
    if len(chosen) > 1:
        raise ConfigError(f"choose one executor: {' and '.join(sorted(chosen))} were both asked for")
    options: dict[str, Any] = {"executor": chosen.pop()} if chosen else {}
    if args.workers:
        options["workers"] = args.workers
    if args.ray:
        options["address"] = args.ray
    return options


def _ingest_config(args: argparse.Namespace) -> Any:
    from dataclasses import replace

    from memindex.ingest.config import IngestConfig

    cfg = IngestConfig()
    if args.no_ocr:
        cfg = replace(cfg, ocr=replace(cfg.ocr, enabled=False))
    if args.no_asr:
        cfg = replace(cfg, asr=replace(cfg.asr, enabled=False))
    if args.asr_model:
        cfg = replace(cfg, asr=replace(cfg.asr, model=args.asr_model))
    return cfg


def cmd_query(args: argparse.Namespace) -> int:
    index = _open(args)
    tr = (args.start or 0.0, args.end) if args.start is not None or args.end is not None else None  # None: open
    hits = index.search(args.text, k=args.k, tiers=args.tiers, levels=args.levels, videos=args.video, time_range=tr)
    if not hits:
        print("(no matching moments)", file=sys.stderr)
    if args.json:
        _print_json({"hits": [h.to_dict() for h in hits]})
        return 0
    for i, h in enumerate(hits, 1):
        print(
            f"{i:2d}. {h.score:.3f} {_hms(h.start)}-{_hms(h.end)} [{h.tier}/{h.level}] "
            f"{os.path.basename(h.uri)}: {h.text[:100]}"
        )
    return 0


def _hms(t: float) -> str:
    m, s = divmod(t, 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:05.2f}" if h else f"{m}:{s:05.2f}"


def cmd_ask(args: argparse.Namespace) -> int:
    index = _open(args)
    answer = index.ask(args.question, max_steps=args.max_steps)
    data = answer.to_dict() if hasattr(answer, "to_dict") else answer
    if args.json:
        _print_json(data)
    else:
        print(data["answer"])
        # The moments the answer cites; an abstained answer cites none (its text names the nearest candidates).
        cited = data["citations"] if "citations" in data else data.get("evidence", [])[:5]
        for ev in cited:
            print(
                f"  - {os.path.basename(ev['uri'])} {_hms(ev['start'])}-{_hms(ev['end'])} [{ev['tier']}] "
                f"{_printable(ev['text'][:80])}"
            )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from memindex.query.eval import run_cli

    text, _ = run_cli(_open(args), args.dataset, max_steps=args.max_steps, as_json=args.json)
    print(text)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    stats = _open(args).stats()
    if args.json:
        _print_json(stats)
        return 0
    print(f"collection {stats['collection']}: {stats['videos']} videos, {stats['duration_seconds'] / 60:.1f} min ready")
    print("segments: " + ", ".join(f"{k} {v}" for k, v in stats["segments"].items()))
    for tier, c in sorted(stats["tiers"].items()):
        print(f"tier {tier}: {c['rows']} rows ({c['pending']} pending)")
    if stats.get("languages"):
        print("speech by language: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in stats["languages"].items()))
    if stats["pending_stages"]:
        print("pending/failed stages: " + ", ".join(f"{k} x{v}" for k, v in stats["pending_stages"].items()))
    return 0


def cmd_videos(args: argparse.Namespace) -> int:
    vids = _open(args).videos()
    if args.json:
        _print_json({"videos": vids})
    else:
        for v in vids:
            langs = ",".join(v.get("languages") or {}) or "-"
            print(f"{v['id']} {v['status']:9s} {v['duration']:8.1f}s {langs:8s} {_printable(v['uri'])}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    if args.html:
        return _show_html(args)
    tree = _open(args).browse(args.video, level=args.level)
    if args.json:
        _print_json({"segments": tree})
        return 0

    def show(node: dict, depth: int) -> None:
        text = node.get("summary") or node.get("caption") or node.get("transcript") or node.get("ocr") or ""
        print(f"{'  ' * depth}{node['level']} {node['index']} {_hms(node['start'])}-{_hms(node['end'])} {text[:90]}")
        for child in node["children"]:
            show(child, depth + 1)

    for node in tree:
        show(node, 0)
    return 0


def _show_html(args: argparse.Namespace) -> int:
    """``show VIDEO --html OUT.html``: the web UI's video page as one self-contained file."""
    from pathlib import Path

    from memindex.api import MemoryIndex
    from memindex.errors import ConfigError
    from memindex.server.ui_timeline import export_html

    index = _open(args)
    if not isinstance(index, MemoryIndex):
        raise ConfigError("--html needs a local store directory, not a server URL")
    out = Path(args.html)
    try:
        out.write_text(export_html(index, args.video), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the report: {exc.strerror or exc}", path=str(out)) from exc
    print(f"wrote {out}")
    return 0


def cmd_transcript(args: argparse.Namespace) -> int:
    from memindex.subtitles import to_srt, to_vtt

    utts = _open(args).transcript(args.video, args.start, args.end)
    fmt = "json" if args.json else args.format
    if not utts:
        print("(no speech in this span)", file=sys.stderr)
    if fmt == "json":
        _print_json({"utterances": utts})
    elif fmt in ("srt", "vtt"):
        sys.stdout.write((to_srt if fmt == "srt" else to_vtt)(utts))
    else:
        for u in utts:
            print(f"{_hms(u['start'])}-{_hms(u['end'])} {u['speaker'] or ''} {_printable(u['text'])}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from memindex.doctor import diagnose, render

    report = diagnose(args.store, args.collection)
    if args.json:
        _print_json(report)
    else:
        print(render(report))
    return 0 if report["ok"] else 1


def cmd_delete(args: argparse.Namespace) -> int:
    index = _open(args)
    deleted = []
    for ref in args.videos:
        gone = index.delete_video(ref)
        deleted.append(gone)
        if not args.json:
            print(f"deleted {gone['id']} ({_printable(gone['name'])})", file=sys.stderr)
    if args.json:
        _print_json({"deleted": deleted})
    return 0


def _printable(text: str) -> str:
    """``text`` with control characters escaped, so one record stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def cmd_check(args: argparse.Namespace) -> int:
    report = _open(args).check(repair=args.repair)
    if args.json:
        _print_json(report)
    else:
        for p in report["problems"]:
            state = "repaired" if p["repaired"] else "NOT repaired" if args.repair else "found"
            print(f"{p['kind']}: {_printable(p['where'])}: {p['detail']} [{state}]")
        print(
            f"{'ok' if report['ok'] else 'problems found'}: "
            + ", ".join(f"{k} {v}" for k, v in report["checked"].items()),
            file=sys.stderr,
        )
    return 0 if report["ok"] else 1


def cmd_sql(args: argparse.Namespace) -> int:
    from memindex.analytics import format_rows, run_sql

    cols, rows = run_sql(_open(args).store, args.query)
    print(format_rows(cols, rows, args.format))
    if not rows:
        print("(no rows)", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from memindex.analytics import export_parquet

    counts = export_parquet(_open(args).store, args.folder)
    for view, n in counts.items():
        print(f"{view}.parquet: {n} rows", file=sys.stderr)
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    result = _open(args).backfill(args.stage)
    _print_json(result)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from memindex.server import serve

    options = {"config": _ingest_config(args)} if args.no_ocr or args.no_asr else {}
    serve(
        args.store,
        host=args.host,
        port=args.port,
        allow=args.allow or [],
        token_file=args.token_file,
        mcp_stdio=args.mcp_stdio,
        ingest_options=options,
        allowed_hosts=args.allow_host or (),
        allowed_origins=args.allow_origin or (),
    )
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    _print_json(_open(args).rebuild(args.stage, args.video))
    return 0


def cmd_entities(args: argparse.Namespace) -> int:
    index = _open(args)
    if args.action == "list":
        data: Any = {"entities": index.entities(args.kind, args.query)}
    elif args.action == "show":
        data = index.entity(args.entity)
    elif args.action == "rename":
        data = index.rename_entity(args.entity, args.name)
    elif args.action == "merge":
        data = index.merge_entities(args.entity, args.sources)
    else:
        data = index.split_entity(
            args.entity, mention_ids=args.mention, video=args.video, start=args.start, end=args.end, name=args.name
        )
    if args.json or args.action != "list":
        _print_json(data)
    else:
        for e in data["entities"]:
            print(
                f"{e['id']:5d} {e['kind']:8s} {e['mentions']:5d} mentions {e['videos']:3d} videos  {e['name']}"
                + (" *" if e["user_named"] else "")
            )
    return 0


def _store_args(p: argparse.ArgumentParser) -> None:
    """``--store``/``--collection`` also after the action (``memindex entities list --store S``)."""
    p.add_argument("--store", default=argparse.SUPPRESS, help="store directory (env MEMINDEX_STORE)")
    p.add_argument("--collection", default=argparse.SUPPRESS, help="collection inside the store")


def _add_entities(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("entities", cmd_entities, "List, show, rename, merge and split entities (speakers, names, terms).")
    acts = p.add_subparsers(dest="action", required=True)
    a = acts.add_parser("list", help="entities, most mentioned first")
    a.add_argument("--kind", help="speaker | face | name | term | topic")
    a.add_argument("--query", help="part of a name or alias")
    a.add_argument("--json", action="store_true")
    _store_args(a)
    for name, help_ in (
        ("show", "one entity with its mentions and facts"),
        ("rename", "rename (sticks)"),
        ("merge", "fold other entities into this one"),
        ("split", "move mentions to a new entity"),
    ):
        a = acts.add_parser(name, help=help_)
        _store_args(a)
        a.add_argument("entity", help="id, speaker label (spk12), name or alias")
        a.set_defaults(json=True)
        if name == "rename":
            a.add_argument("name")
        elif name == "merge":
            a.add_argument("sources", nargs="+")
        elif name == "split":
            a.add_argument("--mention", type=int, action="append", help="a mention id (repeatable)")
            a.add_argument("--video", help="the mentions in this video")
            a.add_argument("--start", type=float)
            a.add_argument("--end", type=float)
            a.add_argument("--name", help="name of the new entity")


def build_parser() -> argparse.ArgumentParser:
    from memindex import __version__

    parser = argparse.ArgumentParser(prog="memindex", description="Hierarchical multimodal memory for long videos.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("--version", action="version", version=f"memindex {__version__}")
    parser.add_argument("--store", help=f"store directory (env MEMINDEX_STORE, else ./{FALLBACK_STORE})")
    parser.add_argument("--collection", help="collection inside the store (default: default)")
    sub = parser.add_subparsers(dest="command")

    def add(name: str, fn: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        _store_args(p)
        p.set_defaults(fn=fn)
        return p

    p = add("ingest", cmd_ingest, "Ingest video files and folders (recursively) into the store.")
    p.add_argument("paths", nargs="+")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-ocr", action="store_true", help="skip on-screen text")
    p.add_argument("--no-asr", action="store_true", help="skip speech")
    p.add_argument("--asr-model", help="faster-whisper model name or path ('packaged' = tiny.en offline)")
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

    p = add("query", cmd_query, "Search speech, screen text and keyframes; print ranked moments.")
    p.add_argument("text")
    p.add_argument("--k", "-k", type=int, default=10)
    p.add_argument("--json", action="store_true", help='print {"hits": [...]} only')
    p.add_argument("--tiers", nargs="+", help="speech screen visual episodic semantic")
    p.add_argument("--levels", nargs="+", help="episodic levels: shot event chapter video")
    p.add_argument("--video", action="append", help="restrict to a video (id, prefix or file name)")
    p.add_argument("--start", type=float, help="only moments ending after this second")
    p.add_argument("--end", type=float, help="only moments starting before this second")

    p = add("ask", cmd_ask, "Answer a question with timestamped evidence (retrieval agent).")
    p.add_argument("question")
    p.add_argument("--max-steps", type=int, default=4)
    p.add_argument("--json", action="store_true")

    p = add("eval", cmd_eval, "Evaluate the agent against single-shot search on a JSONL question set.")
    p.add_argument("dataset", help="JSONL of {question, video, start, end, answer?}")
    p.add_argument("--max-steps", type=int, default=4)
    p.add_argument("--json", action="store_true", help="print the full report as JSON")

    p = add("stats", cmd_stats, "Videos, duration, segments per level, rows per tier, pending stages.")
    p.add_argument("--json", action="store_true")

    p = add("videos", cmd_videos, "List the videos in the store.")
    p.add_argument("--json", action="store_true")

    p = add("show", cmd_show, "Print a video's segment tree.")
    p.add_argument("video")
    p.add_argument("--level", default="video", help="top level to start from")
    p.add_argument("--json", action="store_true")
    p.add_argument("--html", metavar="OUT.html", help="write the video's timeline as a self-contained HTML report")

    p = add("transcript", cmd_transcript, "Print a video's transcript (optionally a time span).")
    p.add_argument("video")
    p.add_argument("--start", type=float)
    p.add_argument("--end", type=float)
    p.add_argument("--format", default="text", choices=["text", "srt", "vtt", "json"])
    p.add_argument("--json", action="store_true", help="same as --format json")

    p = add("doctor", cmd_doctor, "Report models, extras, ffmpeg, GPU and the store's health.")
    p.add_argument("--json", action="store_true")

    p = add("delete", cmd_delete, "Delete videos and everything derived from them.")
    p.add_argument("videos", nargs="+", help="id, id prefix or file name (matched literally)")
    p.add_argument("--json", action="store_true")

    p = add("check", cmd_check, "Verify the store: catalog, tier checksums and vectors, media, temp files.")
    p.add_argument("--repair", action="store_true", help="rebuild what can be rebuilt from the catalog")
    p.add_argument("--json", action="store_true")

    p = add("sql", cmd_sql, "Read-only SQL (DuckDB) over the catalog's views; see docs/analytics.md.")
    p.add_argument("query", help='e.g. "SELECT name, duration FROM videos"')
    p.add_argument("--format", default="table", choices=["table", "json", "csv"])

    p = add("export", cmd_export, "Write every analytics view as a Parquet file into FOLDER.")
    p.add_argument("folder")
    p.add_argument("--format", default="parquet", choices=["parquet"])

    p = add("backfill", cmd_backfill, "Fill a pending stage (visual: keyframe vectors once CLIP loads).")
    p.add_argument("--stage", default="visual")

    p = add("serve", cmd_serve, "Serve the store over HTTP (/v1, OpenAPI) and MCP (/mcp, or --mcp-stdio).")
    p.add_argument("--host", default="127.0.0.1", help="bind address; anything but loopback needs a token")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--allow", action="append", help="a folder videos may be ingested from (repeatable)")
    p.add_argument("--token-file", help="file holding the bearer token (else $MEMINDEX_TOKEN)")
    p.add_argument("--allow-host", action="append", help="a Host header to answer besides loopback (repeatable)")
    p.add_argument("--allow-origin", action="append", help="a browser Origin allowed to call (repeatable)")
    p.add_argument("--mcp-stdio", action="store_true", help="speak MCP over stdin/stdout instead of HTTP")
    p.add_argument("--no-ocr", action="store_true", help="ingest without on-screen text")
    p.add_argument("--no-asr", action="store_true", help="ingest without speech")
    p.add_argument("--asr-model", help=argparse.SUPPRESS)

    p = add("rebuild", cmd_rebuild, "Re-derive a stage from stored data (events, captions, semantic), atomically.")
    p.add_argument("--stage", required=True, help="events | captions | semantic")
    p.add_argument("--video", action="append", help="only this video (id, prefix or file name); repeatable")
    _add_entities(add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "fn", None) is None:  # bare `memindex`
        parser.print_help()
        return 0
    # The environment is read here, once, at the app floor.
    args.store = getattr(args, "store", None) or os.environ.get("MEMINDEX_STORE") or FALLBACK_STORE
    args.collection = getattr(args, "collection", None) or "default"
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.fn(args))
    except MemIndexError as exc:
        print(f"error [{exc.code}]: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; committed work is kept and a re-run resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

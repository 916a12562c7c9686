"""The ``memindex`` command line: parses into a context, then calls the library (``memindex.open``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from memindex.cli_options import build_parser, operation_args
from memindex.environment import Environment
from memindex.errors import ConfigError, MemIndexError

__all__ = ["main", "build_parser", "Environment"]

log = logging.getLogger("memindex.cli")
FALLBACK_STORE = "memindex-store"


def _is_url(store: str) -> bool:
    return store.startswith(("http://", "https://"))


def _open(args: argparse.Namespace, create: bool = False) -> Any:
    """The store (with the catalog URL and tier token the environment sets) or the server it names."""
    import memindex

    if _is_url(args.store):
        return memindex.open(args.store, collection=args.collection, token=args.token)
    return memindex.open(args.store, collection=args.collection, create=create, **args.env.store_options())


def _config(args: argparse.Namespace, cfg: Any = None) -> dict[str, Any]:
    """``config=`` for ingest, rebuild and backfill: ``cfg`` with what the environment sets (the LLM, the
    captioner's endpoint); nothing when there is nothing to pass, or the store is a server (it has its own)."""
    if not _is_url(args.store):
        cfg = args.env.ingest_config(cfg)
    return {} if cfg is None else {"config": cfg}


def _llm(args: argparse.Namespace) -> dict[str, Any]:
    """``llm=`` for the agent when the environment sets an endpoint (a server chooses its own)."""
    return {"llm": args.env.llm} if args.env.llm is not None and not _is_url(args.store) else {}


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def cmd_ingest(args: argparse.Namespace) -> int:
    """Exit 0: every file ingested or skipped; 1: some files failed; 2: a store-wide fault stopped the batch."""
    from memindex.cli_progress import progress_display

    options = _executor_options(args)
    index = _open(args, create=True)
    options.update(_config(args, _ingest_config(args) if _config_asked(args) else None))
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


def _config_asked(args: argparse.Namespace) -> bool:
    return bool(args.no_ocr or args.no_asr or args.asr_model)


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
    hits = _open(args).search(**_with_span(operation_args(args)))
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


def _with_span(kw: dict[str, Any]) -> dict[str, Any]:
    """``start``/``end`` as the facade's ``time_range`` (None: the whole video; an end of None is open)."""
    start, end = kw.pop("start"), kw.pop("end")
    kw["time_range"] = (start or 0.0, end) if start is not None or end is not None else None
    return kw


def _hms(t: float) -> str:
    m, s = divmod(t, 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:05.2f}" if h else f"{m}:{s:05.2f}"


def cmd_ask(args: argparse.Namespace) -> int:
    index = _open(args)
    answer = index.ask(**operation_args(args), **_llm(args))
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

    text, _ = run_cli(_open(args), args.dataset, max_steps=args.max_steps, as_json=args.json, **_llm(args))
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
    tree = _open(args).browse(**_with_span(operation_args(args)))
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

    utts = _open(args).transcript(**operation_args(args))
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

    report = diagnose(args.store, args.collection, **args.env.store_options())
    if args.json:
        _print_json(report)
    else:
        print(render(report))
    return 0 if report["ok"] else 1


def cmd_delete(args: argparse.Namespace) -> int:
    index = _open(args)
    deleted = []
    for ref in args.video:
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
    report = _open(args).check(**operation_args(args))
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
    _print_json(_open(args).backfill(**operation_args(args), **_config(args)))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from memindex.server import serve

    options = _config(args, _ingest_config(args) if _config_asked(args) else None)
    serve(
        args.store,
        token=None if args.token_file else args.token,  # --token-file wins over $MEMINDEX_TOKEN
        environment=args.env,
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
    _print_json(_open(args).rebuild(**operation_args(args), **_config(args)))
    return 0


def cmd_entities(args: argparse.Namespace) -> int:
    found = getattr(_open(args), args.operation)(**operation_args(args))
    data = {"entities": found} if args.action == "list" else found
    if args.json or args.action != "list":
        _print_json(data)
    else:
        for e in data["entities"]:
            print(
                f"{e['id']:5d} {e['kind']:8s} {e['mentions']:5d} mentions {e['videos']:3d} videos  {e['name']}"
                + (" *" if e["user_named"] else "")
            )
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "ingest": cmd_ingest,
    "query": cmd_query,
    "ask": cmd_ask,
    "stats": cmd_stats,
    "videos": cmd_videos,
    "show": cmd_show,
    "transcript": cmd_transcript,
    "delete": cmd_delete,
    "check": cmd_check,
    "backfill": cmd_backfill,
    "rebuild": cmd_rebuild,
    "eval": cmd_eval,
    "doctor": cmd_doctor,
    "sql": cmd_sql,
    "export": cmd_export,
    "serve": cmd_serve,
    "entities": cmd_entities,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)  # an option out of the table's bounds raises QueryError here
        if args.command is None:  # bare `memindex`
            parser.print_help()
            return 0
        # The one read of the environment (memindex/environment.py); the library reads none of it.
        env = args.env = Environment.read(os.environ)
        args.store = getattr(args, "store", None) or env.store or FALLBACK_STORE
        args.collection = getattr(args, "collection", None) or "default"
        args.token = env.token
        level = logging.WARNING - 10 * min(args.verbose, 2)
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
        return int(COMMANDS[args.command](args))
    except MemIndexError as exc:
        print(f"error [{exc.code}]: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; committed work is kept and a re-run resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

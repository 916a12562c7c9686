"""Keyframe captioners (a Protocol, chosen by name) and the per-keyframe caption cache.

Built-ins: ``openai`` (any OpenAI-compatible chat endpoint with images: vLLM, Ollama, llama.cpp server,
OpenAI), ``transformers`` (a local vision-language checkpoint on disk) and ``none``. Plugins register under the
``memindex.captioners`` entry-point group. Captions are stored per (keyframe, captioner name) in
``frame_captions`` and reused by later builds and rebuilds.

The captions stage is three steps: ``load_captions`` reads what it needs from the store, ``produce_captions``
asks the captioner (no store), ``commit_captions`` writes the records in one transaction."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select

from memindex.catalog.models import Frame, FrameCaption, OcrLine, Segment, Utterance
from memindex.config import secret_field
from memindex.errors import ConfigError, MemIndexError, MissingDependencyError, NotFoundError, StageError
from memindex.ingest.store_records import CaptionInputs, CaptionRecords, Keyframe, OcrRow, UtteranceRow
from memindex.ingest.stored import ingest_key, read_images
from memindex.llm import ChatClient, LLMConfig, LLMError, image_part
from memindex.registry import Registry
from memindex.store import Store

__all__ = [
    "Captioner",
    "CaptionerConfig",
    "OpenAICaptioner",
    "TransformersCaptioner",
    "NoneCaptioner",
    "CAPTIONERS",
    "make_captioner",
    "load_captions",
    "produce_captions",
    "commit_captions",
]

log = logging.getLogger(__name__)


@runtime_checkable
class Captioner(Protocol):
    name: str  # the cache key: a different model gives different captions

    def caption(self, image_jpeg: bytes, context: str) -> str: ...


@dataclass(frozen=True)
class CaptionerConfig:
    """``model``: the served model name (``openai``) or the checkpoint folder (``transformers``);
    ``base_url``: the ``openai`` endpoint; ``api_key``: its key, a secret (never saved). The library reads no
    environment: the CLI and server fill unset ones from ``MEMINDEX_CAPTION_*``, then ``MEMINDEX_LLM_*``."""

    name: str = "none"
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = secret_field()
    timeout: float = 60.0
    max_retries: int = 2
    max_tokens: int = 96


def _prompt() -> str:
    return resources.files("memindex.ingest").joinpath("prompts/caption.txt").read_text("utf-8").strip()


class NoneCaptioner:
    """No captions: segment texts come from speech and screen text alone."""

    name = "none"

    def __init__(self, cfg: CaptionerConfig | None = None) -> None:
        """Takes the same config as every captioner, and needs nothing from it."""

    def caption(self, image_jpeg: bytes, context: str) -> str:
        return ""


class OpenAICaptioner:
    """A keyframe and its context (speech and screen text around it) sent to a chat endpoint with images."""

    def __init__(self, cfg: CaptionerConfig | None = None, *, llm: LLMConfig | None = None) -> None:
        self.llm = llm or _llm_config(cfg or CaptionerConfig(name="openai"))
        self.max_tokens = (cfg or CaptionerConfig()).max_tokens
        self.client = ChatClient(self.llm)
        self.name = f"openai:{self.llm.model}"
        self.prompt = _prompt()

    def caption(self, image_jpeg: bytes, context: str) -> str:
        text = self.prompt + (f"\nContext (speech and screen text at this moment): {context}" if context else "")
        reply = self.client.chat(
            [{"role": "user", "content": [{"type": "text", "text": text}, image_part(image_jpeg)]}],
            max_tokens=self.max_tokens,
        )
        if not reply.content.strip():
            raise LLMError(f"captioner {self.name} answered an empty caption")
        return " ".join(reply.content.split())

    def close(self) -> None:
        self.client.close()


def _llm_config(cfg: CaptionerConfig) -> LLMConfig:
    if not cfg.base_url or not cfg.model:
        raise ConfigError(
            "captioner 'openai' needs a base URL and a model: CaptionerConfig(base_url=..., model=...) (the CLI "
            "and server take them from MEMINDEX_CAPTION_BASE_URL / MEMINDEX_CAPTION_MODEL or MEMINDEX_LLM_*)"
        )
    return LLMConfig(
        base_url=cfg.base_url, model=cfg.model, api_key=cfg.api_key, timeout=cfg.timeout, max_retries=cfg.max_retries
    )


class TransformersCaptioner:
    """A local vision-language checkpoint (``AutoModelForImageTextToText``: BLIP, GIT, SmolVLM, Qwen-VL...)
    loaded from a folder on disk; never downloads."""

    def __init__(self, cfg: CaptionerConfig | None = None) -> None:
        cfg = cfg or CaptionerConfig(name="transformers")
        if not cfg.model or not Path(cfg.model).expanduser().is_dir():
            raise ConfigError(
                f"captioner 'transformers' needs the folder of a checkpoint on disk as its model (got {cfg.model!r})"
            )
        try:
            import torch
            from transformers import AutoModelForImageTextToText, AutoProcessor
        except ImportError as exc:
            raise MissingDependencyError("transformers", "captions", "the local transformers captioner") from exc
        path = str(Path(cfg.model).expanduser())
        try:
            self.processor = AutoProcessor.from_pretrained(path, local_files_only=True)
            self.model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True).eval()
        except (OSError, ValueError) as exc:
            raise StageError(f"cannot load the captioning checkpoint at {path}: {exc}", path=path) from exc
        self._torch = torch
        self.max_tokens = cfg.max_tokens
        self.name = f"transformers:{Path(path).name}"

    def caption(self, image_jpeg: bytes, context: str) -> str:
        from PIL import Image

        image = Image.open(io.BytesIO(image_jpeg)).convert("RGB")
        try:
            inputs = self.processor(images=image, return_tensors="pt")
            with self._torch.inference_mode():
                out = self.model.generate(**inputs, max_new_tokens=self.max_tokens)
            text = self.processor.batch_decode(out, skip_special_tokens=True)[0]
        except (RuntimeError, ValueError, TypeError) as exc:
            raise StageError(f"captioner {self.name} failed: {exc}") from exc
        return " ".join(text.split())


CAPTIONERS: Registry[Captioner] = Registry("memindex.captioners", "captioner")
_BUILTIN: dict[str, Callable[..., Any]] = {
    "none": NoneCaptioner,
    "openai": OpenAICaptioner,
    "transformers": TransformersCaptioner,
}
for _name, _factory in _BUILTIN.items():
    CAPTIONERS.register(_name, _factory)


def make_captioner(cfg: CaptionerConfig | None = None) -> Captioner:
    """The captioner named in ``cfg``; an unknown name fails listing the valid ones."""
    cfg = cfg or CaptionerConfig()
    return CAPTIONERS.create(cfg.name, cfg)


# -- the captions stage: loader, producer, commit ------------------------------------------------------
def load_captions(store: Store, video_id: str, model: str) -> CaptionInputs:
    """The shot keyframes with no caption of ``model`` cached (with their images), how many have one, and
    the video's speech and screen text for context. Reads the store; nothing else in this stage does."""
    with store.Session() as s:
        key = ingest_key(s, video_id)
        if key is None:
            raise NotFoundError(f"no video {video_id!r}", video_id=video_id)
        if model == NoneCaptioner.name:
            return CaptionInputs(video_id, model, key)
        rows = s.execute(
            select(Segment.start, Segment.end, Frame.id, Frame.path)
            .join(Frame, Frame.id == Segment.keyframe_id)
            .where(Segment.video_id == video_id, Segment.level == "shot")
            .order_by(Segment.start)
        ).all()
        q = select(FrameCaption.frame_id).where(FrameCaption.video_id == video_id, FrameCaption.model == model)
        cached = set(s.scalars(q).all())
        utts = s.scalars(select(Utterance).where(Utterance.video_id == video_id).order_by(Utterance.start)).all()
        lines = s.scalars(select(OcrLine).where(OcrLine.video_id == video_id).order_by(OcrLine.start)).all()
        spoken = tuple(UtteranceRow(u.id, u.start, u.end, u.text, u.speaker) for u in utts)
        shown = tuple(OcrRow(ln.start, ln.end, ln.text) for ln in lines)
    todo = tuple(Keyframe(fid, start, end, path) for start, end, fid, path in rows if fid not in cached)
    images = read_images(store, [k.path for k in todo])
    return CaptionInputs(video_id, model, key, todo, len(rows) - len(todo), spoken, shown, images)


def produce_captions(inputs: CaptionInputs, captioner: Captioner) -> CaptionRecords:
    """Caption each keyframe in ``inputs`` (no store). A failing captioner (its endpoint down) ends the run
    with status ``failed``; the captions made before it are kept in the records."""
    t0 = time.perf_counter()
    vid = inputs.video_id
    if inputs.model != captioner.name:
        raise ConfigError(f"captions loaded for {inputs.model!r} cannot be made by captioner {captioner.name!r}")
    if isinstance(captioner, NoneCaptioner) or captioner.name == NoneCaptioner.name:
        return CaptionRecords(vid, inputs.key, None, (), 0, "skipped", "no captioner configured")
    context = _SpanLookup(inputs).context
    done: list[tuple[int, str]] = []
    try:
        for k in inputs.todo:
            try:
                done.append((k.frame_id, captioner.caption(inputs.images.read(k.path), context(k.start, k.end))))
            except StageError as exc:
                exc.video_id, exc.t = vid, k.start
                raise
    except MemIndexError as exc:
        log.error("captions FAILED for video %s: %s (`memindex rebuild --stage captions` retries)", vid, exc)
        seconds = time.perf_counter() - t0
        fields = (vid, inputs.key, captioner.name, tuple(done), inputs.cached, "failed", str(exc))
        return CaptionRecords(*fields, error=str(exc), seconds=seconds)
    detail = f"{len(done)} new, {inputs.cached} cached"
    fields = (vid, inputs.key, captioner.name, tuple(done), inputs.cached, "done", detail)
    return CaptionRecords(*fields, seconds=time.perf_counter() - t0)


def commit_captions(store: Store, records: CaptionRecords) -> dict[str, int | str]:
    """The new captions and the ``captions`` stage row in one ``store.write()``. Nothing is written when the
    video was deleted (or deleted and ingested again) since it was loaded; a caption another run cached for
    the same keyframe meanwhile is kept (same keyframe, same model: the cache's unique key)."""
    from memindex.ingest.commit import record_stage

    vid = records.video_id
    with store.write() as txn:
        s = txn.session
        if ingest_key(s, vid) != records.key:
            return {}
        if records.captions:
            q = select(FrameCaption.frame_id).where(FrameCaption.video_id == vid, FrameCaption.model == records.model)
            have = set(s.scalars(q).all())
            s.add_all(
                FrameCaption(frame_id=fid, video_id=vid, model=records.model, text=text)
                for fid, text in records.captions
                if fid not in have
            )
        record_stage(txn, vid, "captions", records.status, records.model, records.detail, records.seconds)
    return records.summary()


class _SpanLookup:
    """Speech and screen text around a keyframe: the context a captioner gets."""

    def __init__(self, inputs: CaptionInputs) -> None:
        self.utts = [(u.start, u.end, u.text) for u in inputs.utterances]
        self.ocr = [(ln.start, ln.end, ln.text) for ln in inputs.ocr]

    def context(self, start: float, end: float) -> str:
        said = " ".join(t for s, e, t in self.utts if s < end and e > start)
        shown = " | ".join(dict.fromkeys(t for s, e, t in self.ocr if s < end and e > start))
        return " ".join(p for p in (f"Said: {said}" if said else "", f"On screen: {shown}" if shown else "") if p)

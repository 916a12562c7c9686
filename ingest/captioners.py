"""Keyframe captioners (a Protocol, chosen by name) and the per-keyframe caption cache.

Built-ins: ``openai`` (any OpenAI-compatible chat endpoint with images: vLLM, Ollama, llama.cpp server,
OpenAI), ``transformers`` (a local vision-language checkpoint on disk) and ``none``. Plugins register under the
``memindex.captioners`` entry-point group. Captions are stored per (keyframe, captioner name) in
``frame_captions`` and reused by later builds and rebuilds."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select

from memindex.catalog.models import Frame, FrameCaption, Segment
from memindex.errors import ConfigError, MissingDependencyError, StageError
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
    "caption_keyframes",
]

log = logging.getLogger(__name__)


@runtime_checkable
class Captioner(Protocol):
    name: str  # the cache key: a different model gives different captions

    def caption(self, image_jpeg: bytes, context: str) -> str: ...


@dataclass(frozen=True)
class CaptionerConfig:
    """``model``: the served model name (``openai``; default ``MEMINDEX_CAPTION_MODEL`` or
    ``MEMINDEX_LLM_MODEL``) or the checkpoint folder (``transformers``). ``base_url``/``api_key`` default to
    ``MEMINDEX_CAPTION_BASE_URL``/``_API_KEY``, then ``MEMINDEX_LLM_*``."""

    name: str = "none"
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
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
    env = os.environ.get
    base = cfg.base_url or env("MEMINDEX_CAPTION_BASE_URL") or env("MEMINDEX_LLM_BASE_URL")
    model = cfg.model or env("MEMINDEX_CAPTION_MODEL") or env("MEMINDEX_LLM_MODEL")
    if not base or not model:
        raise ConfigError(
            "captioner 'openai' needs a base URL and a model (config, or the environment "
            "MEMINDEX_CAPTION_BASE_URL / MEMINDEX_CAPTION_MODEL or MEMINDEX_LLM_*)"
        )
    key = cfg.api_key or env("MEMINDEX_CAPTION_API_KEY") or env("MEMINDEX_LLM_API_KEY") or env("OPENAI_API_KEY")
    return LLMConfig(base_url=base, model=model, api_key=key, timeout=cfg.timeout, max_retries=cfg.max_retries)


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


def caption_keyframes(
    store: Store, video_id: str, captioner: Captioner, context: Callable[[float, float], str]
) -> dict[str, int]:
    """Caption each shot's keyframe not yet cached for this captioner; one write per caption so a failure
    keeps what was done. Raises StageError (the endpoint is down) after committing the captions so far."""
    if isinstance(captioner, NoneCaptioner):
        return {"captioned": 0, "cached": 0}
    with store.Session() as s:
        rows = s.execute(
            select(Segment.start, Segment.end, Frame.id, Frame.path)
            .join(Frame, Frame.id == Segment.keyframe_id)
            .where(Segment.video_id == video_id, Segment.level == "shot")
            .order_by(Segment.start)
        ).all()
        cached = set(
            s.scalars(
                select(FrameCaption.frame_id).where(
                    FrameCaption.video_id == video_id, FrameCaption.model == captioner.name
                )
            ).all()
        )
    done = 0
    for start, end, frame_id, path in rows:
        if frame_id in cached:
            continue
        try:
            text = captioner.caption(store.media.read(path), context(start, end))
        except StageError as exc:
            exc.video_id, exc.t = video_id, start
            raise
        with store.write() as txn:
            txn.session.add(FrameCaption(frame_id=frame_id, video_id=video_id, model=captioner.name, text=text))
        cached.add(frame_id)
        done += 1
    return {"captioned": done, "cached": len(rows) - done}

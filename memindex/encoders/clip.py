"""OpenCLIP keyframe embedder: architecture plus a ``pretrained`` tag (fetched by open_clip) or a local
checkpoint path. Loading failures raise ``StageError`` so ingest can mark the visual tier pending."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Sequence
from contextlib import suppress
from importlib import util
from pathlib import Path

import numpy as np

from memindex.config import FrameEncoderConfig
from memindex.encoders.base import limit_torch_threads, normalize
from memindex.encoders.quiet import quiet_loading
from memindex.errors import MissingDependencyError, StageError

__all__ = ["OpenClipEmbedder"]

log = logging.getLogger(__name__)


def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _offline_pretrained(open_clip, arch: str, tag: str | None) -> str | None:  # type: ignore[no-untyped-def]
    """A hub tag becomes its cached file when the hub cannot be used (HF_HUB_OFFLINE set, or huggingface.co
    unreachable), and fails at once, with one message for both, when nothing is cached: otherwise
    huggingface_hub spends ~46 s in retries before open_clip gives up, or fails with its own words."""
    if tag is None or Path(tag).exists():
        return tag
    hub = (open_clip.get_pretrained_cfg(arch, tag) or {}).get("hf_hub")
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if not hub or (not offline and hub_reachable()):
        return tag
    from huggingface_hub import try_to_load_from_cache

    model_id, filename = os.path.split(hub)
    for name in ("open_clip_model.safetensors", filename or "open_clip_pytorch_model.bin"):
        cached = try_to_load_from_cache(model_id, name)
        if isinstance(cached, str):
            return cached
    raise StageError(
        f"OpenCLIP {arch} weights {tag!r} are not in the local cache and cannot be downloaded (offline, or "
        "huggingface.co unreachable); give a local checkpoint path as 'pretrained', or run `memindex backfill "
        "--stage visual` once online"
    )


def _name(cfg: FrameEncoderConfig) -> str:
    return f"openclip:{cfg.arch}:{cfg.pretrained}"


class OpenClipEmbedder:
    """Keyframes and query text into one OpenCLIP space, for text-to-image and image-to-image search."""

    def __init__(self, cfg: FrameEncoderConfig) -> None:
        try:
            import open_clip
            import torch
        except ImportError as exc:
            raise MissingDependencyError("open_clip_torch", "clip", "keyframe embeddings (OpenCLIP)") from exc
        self._torch = torch
        limit_torch_threads(cfg.threads)
        pretrained = _offline_pretrained(open_clip, cfg.arch, cfg.pretrained)
        if pretrained is None:
            log.warning("OpenCLIP %s has random weights (pretrained=None): its vectors mean nothing", cfg.arch)
        try:
            with quiet_loading("open_clip"):
                model, _, preprocess = open_clip.create_model_and_transforms(
                    cfg.arch, pretrained=pretrained, device=cfg.device
                )
        except Exception as exc:
            where = pretrained if pretrained and Path(pretrained).exists() else None
            raise StageError(f"cannot load OpenCLIP {cfg.arch} weights {pretrained!r}: {exc}", path=where) from exc
        self._model = model.eval()
        self._preprocess = preprocess
        self._tokenizer = open_clip.get_tokenizer(cfg.arch)
        self._device = cfg.device
        self._batch = cfg.batch_size
        self.dim = (
            int(self._model.text_projection.shape[1])
            if hasattr(self._model, "text_projection") and self._model.text_projection is not None
            else int(self.embed_text(["probe"]).shape[1])
        )
        self.name = _name(cfg)  # the configured tag, also when it was read from the local cache offline

    @staticmethod
    def identity(cfg: FrameEncoderConfig) -> tuple[str, int] | None:
        """(name, dim) from the config and open_clip's architecture file, without importing torch or loading
        weights; None when the architecture has no file open_clip ships (then only loading tells)."""
        spec = util.find_spec("open_clip")
        for where in (spec.submodule_search_locations or []) if spec else []:
            with suppress(OSError, ValueError, KeyError, TypeError):
                arch = json.loads((Path(where) / "model_configs" / f"{cfg.arch}.json").read_text("utf-8"))
                return _name(cfg), int(arch["embed_dim"])
        return None

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        from PIL import Image

        out = []
        for i in range(0, len(images), self._batch):
            batch = [self._preprocess(Image.fromarray(img)) for img in images[i : i + self._batch]]
            with self._torch.inference_mode():
                feats = self._model.encode_image(self._torch.stack(batch).to(self._device))
            out.append(feats.float().cpu().numpy())
        return normalize(np.concatenate(out)) if out else np.zeros((0, self.dim), np.float32)

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        with self._torch.inference_mode():
            feats = self._model.encode_text(self._tokenizer(list(texts)).to(self._device))
        return normalize(feats.float().cpu().numpy())

"""Encoders both sides share: text embedders and frame (image-text) embedders, chosen by name."""

from __future__ import annotations

from memindex.config import FrameEncoderConfig, TextEncoderConfig
from memindex.encoders.base import FrameEmbedder, TextEmbedder
from memindex.registry import Registry

__all__ = [
    "TextEmbedder",
    "FrameEmbedder",
    "TEXT_EMBEDDERS",
    "FRAME_EMBEDDERS",
    "make_text_embedder",
    "make_frame_embedder",
]

TEXT_EMBEDDERS: Registry[TextEmbedder] = Registry("memindex.text_embedders", "text embedder")
FRAME_EMBEDDERS: Registry[FrameEmbedder] = Registry("memindex.frame_embedders", "frame embedder")


def make_text_embedder(cfg: TextEncoderConfig) -> TextEmbedder:
    return TEXT_EMBEDDERS.create(cfg.name, cfg)


def make_frame_embedder(cfg: FrameEncoderConfig) -> FrameEmbedder:
    return FRAME_EMBEDDERS.create(cfg.name, cfg)

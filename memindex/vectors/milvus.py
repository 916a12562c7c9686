"""The ``milvus`` backend: each tier a Milvus collection, for archives past one node.

``TierBackendConfig.uri`` names a Milvus server or cluster (``TierBackendConfig.token`` its token); without
one, milvus-lite runs embedded on ``<store>/tiers/milvus.db`` (for tests and a single machine). A tier is the
collection ``mi_<catalog id>_<tier>`` with an INT64 primary key (``docs.id``) and a FLOAT_VECTOR; its
encoder, dimension, catalog id and generation are collection properties. Milvus keeps raw vectors, so
``vectors()`` is exact whatever index Milvus builds (``AUTOINDEX``, inner product). The catalog stays the
truth: a collection of another catalog or encoder is refused and rebuilt from it."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memindex.errors import EncoderMismatchError, MemIndexError, MissingDependencyError, StoreError
from memindex.vectors.base import Chunks, VectorSource
from memindex.vectors.tierfile import TierDamagedError

if TYPE_CHECKING:
    from memindex.config import TierBackendConfig

__all__ = ["MilvusTier", "open_milvus_tier"]

log = logging.getLogger(__name__)

_BATCH = 8192  # rows per insert or get (a 512-d batch is 16 MiB, under gRPC's 64 MiB message limit)
_PREFIX = "memindex."
# One client per URI and token in a process, like pymilvus's own connection registry.
_clients: dict[tuple[str, str], Any] = {}
_clients_lock = threading.Lock()


def _client(uri: str, token: str | None = None) -> Any:
    try:
        from pymilvus import MilvusClient  # type: ignore[import-untyped]
    except ImportError as exc:
        raise MissingDependencyError("pymilvus", "milvus", "the milvus vector backend") from exc
    key = (uri, token or "")
    with _clients_lock, _errors(uri):
        if key not in _clients:
            _clients[key] = MilvusClient(uri=uri, token=token or "")
        return _clients[key]


@contextmanager
def _errors(where: str) -> Iterator[None]:
    """Milvus and gRPC failures become ``StoreError`` naming the server (or milvus-lite file)."""
    try:
        yield
    except MemIndexError:
        raise
    except Exception as exc:  # pymilvus raises MilvusException and grpc errors; both become one store error
        raise StoreError(f"milvus: {exc}", path=where) from exc


class MilvusTier:
    """One tier as a Milvus collection (see the module docstring)."""

    def __init__(
        self,
        uri: str,
        collection: str,
        name: str,
        encoder: str,
        dim: int,
        *,
        catalog_id: str | None,
        load: bool = True,
        nprobe: int = 32,
        token: str | None = None,
    ) -> None:
        self.uri, self.collection, self.name, self.encoder, self.dim = uri, collection, name, encoder, dim
        self.catalog_id, self.nprobe = catalog_id, nprobe
        self.generation = self.file_generation = -1
        self.factory = "milvus:AUTOINDEX"
        self._client = _client(uri, token)
        self._n = 0
        with _errors(uri):
            if load and self._client.has_collection(collection):
                self._load()
            else:
                self._create()

    # -- lifecycle -------------------------------------------------------------------------------------
    def _create(self) -> None:
        from pymilvus import DataType

        c = self._client
        if c.has_collection(self.collection):
            c.drop_collection(self.collection)
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        params = c.prepare_index_params()
        params.add_index("vector", index_type="AUTOINDEX", metric_type="IP")
        c.create_collection(
            self.collection,
            schema=schema,
            index_params=params,
            consistency_level="Strong",
            properties=self._properties(-1),
        )
        self._n, self.generation, self.file_generation = 0, -1, -1

    def _properties(self, generation: int) -> dict[str, str]:
        return {
            f"{_PREFIX}encoder": self.encoder,
            f"{_PREFIX}dim": str(self.dim),
            f"{_PREFIX}catalog_id": self.catalog_id or "",
            f"{_PREFIX}generation": str(generation),
        }

    def _load(self) -> None:
        props = self._client.describe_collection(self.collection).get("properties", {})
        where = f"{self.uri} ({self.collection})"
        if props.get(f"{_PREFIX}encoder") != self.encoder or props.get(f"{_PREFIX}dim") != str(self.dim):
            raise EncoderMismatchError(
                f"tier {self.name} holds {props.get(_PREFIX + 'encoder')} ({props.get(_PREFIX + 'dim')}-d) "
                f"vectors, but the store's encoder is {self.encoder} ({self.dim}-d)",
                path=where,
            )
        if self.catalog_id is not None and props.get(f"{_PREFIX}catalog_id") != self.catalog_id:
            raise TierDamagedError(f"tier {self.name} was built from another catalog", path=where)
        self.generation = self.file_generation = int(props.get(f"{_PREFIX}generation", -1))
        self._n = int(self._client.get_collection_stats(self.collection)["row_count"])

    def save(self, generation: int) -> None:
        """Flush the inserts and deletes, then record the generation they reach."""
        with _errors(self.uri):
            self._client.flush(self.collection)
            self._client.alter_collection_properties(self.collection, properties=self._properties(generation))
        self.generation = self.file_generation = generation

    # -- contents --------------------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        return self._n

    @property
    def exact(self) -> bool:
        return True

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        vecs = np.ascontiguousarray(vecs, dtype=np.float32).reshape(len(ids), self.dim)
        with _errors(self.uri):
            for lo in range(0, len(ids), _BATCH):
                rows = [
                    {"id": int(i), "vector": v}
                    for i, v in zip(ids[lo : lo + _BATCH], vecs[lo : lo + _BATCH], strict=True)
                ]
                self._client.insert(self.collection, rows)
        self._n += len(ids)

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        present = self._present(np.asarray(ids, np.int64))
        with _errors(self.uri):
            for lo in range(0, len(present), _BATCH):
                self._client.delete(self.collection, ids=present[lo : lo + _BATCH].tolist())
        self._n -= len(present)
        return len(present)

    def _present(self, ids: np.ndarray) -> np.ndarray:
        out = []
        with _errors(self.uri):
            for lo in range(0, len(ids), _BATCH):
                rows = self._client.get(self.collection, ids=ids[lo : lo + _BATCH].tolist(), output_fields=["id"])
                out += [int(r["id"]) for r in rows]
        return np.array(sorted(out), np.int64)

    def ids(self) -> np.ndarray:
        with _errors(self.uri):
            it = self._client.query_iterator(self.collection, batch_size=_BATCH, output_fields=["id"])
            out: list[int] = []
            try:
                while batch := it.next():
                    out += [int(r["id"]) for r in batch]
            finally:
                it.close()
        return np.array(out, np.int64)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        found: dict[int, Any] = {}
        with _errors(self.uri):
            for lo in range(0, len(ids), _BATCH):
                for r in self._client.get(
                    self.collection, ids=ids[lo : lo + _BATCH].tolist(), output_fields=["vector"]
                ):
                    found[int(r["id"])] = r["vector"]
        missing = [int(i) for i in ids if int(i) not in found]
        if missing:
            raise StoreError(f"tier {self.name} holds no vector for ids {missing[:5]}", path=self.uri)
        return np.array([found[int(i)] for i in ids], np.float32).reshape(len(ids), self.dim)

    def rebuild(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        self.rebuild_from(len(ids), [(ids, vecs)], vecs)

    def rebuild_from(self, total: int, chunks: Chunks, sample: np.ndarray) -> None:
        """Drop the collection and load the catalog's vectors again (Milvus trains its own index)."""
        with _errors(self.uri):
            self._create()
        for ids, vecs in chunks:
            self.add(ids, vecs)

    def outgrown(self) -> bool:
        return False  # Milvus chooses and rebuilds its own indexes per segment

    # -- search ----------------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int, subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if self._n == 0 or k <= 0 or (subset is not None and len(subset) == 0):
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(self.dim)
        options: dict[str, Any] = {}
        if subset is not None:
            options["filter"] = "id in [" + ",".join(str(int(i)) for i in subset) + "]"
        with _errors(self.uri):
            hits = self._client.search(
                self.collection,
                data=[q],
                limit=min(k, 16384),
                anns_field="vector",
                output_fields=["id"],
                search_params={"metric_type": "IP", "params": {"nprobe": self.nprobe}},
                **options,
            )[0]
        return (np.array([h["distance"] for h in hits], np.float32), np.array([h["id"] for h in hits], np.int64))


def collection_name(catalog_id: str | None, fallback: str, tier: str) -> str:
    """``mi_<catalog id>_<tier>`` in the characters Milvus allows (letters, digits, underscores)."""
    owner = (catalog_id or fallback)[:16]
    return re.sub(r"[^A-Za-z0-9_]", "_", f"mi_{owner}_{tier}")


def open_milvus_tier(
    tiers_dir: Path,
    name: str,
    encoder: str,
    dim: int,
    *,
    config: TierBackendConfig,
    catalog_id: str | None,
    load: bool = True,
    verify: str = "quick",
    source: VectorSource | None = None,
) -> MilvusTier:
    """The ``milvus`` backend: ``config.uri``, or milvus-lite on ``<tiers_dir>/milvus.db``."""
    uri = config.uri or str(tiers_dir / "milvus.db")
    collection = collection_name(catalog_id, tiers_dir.parent.name, name)
    return MilvusTier(
        uri, collection, name, encoder, dim, catalog_id=catalog_id, load=load, nprobe=config.nprobe, token=config.token
    )

"""The public facade: ``memindex.open(path)`` gives a ``MemoryIndex`` over one collection of a store.

The write side (``ingest``) and the agent (``query``) are found through entry points
(``memindex.ingesters`` and ``memindex.agents``), so the core never imports them and third parties can
replace either."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from memindex.config import StoreConfig
from memindex.errors import ConfigError
from memindex.operations import checked_options
from memindex.progress import ProgressCallback
from memindex.reads import Reader, check_span
from memindex.records import Frame, Results, ScreenText, Segment, Utterance, Video
from memindex.registry import Registry
from memindex.search import Hit, Searcher
from memindex.store import Store

__all__ = ["MemoryIndex", "open_index", "IngestSettings", "INGESTERS", "AGENTS"]

INGESTERS: Registry[Any] = Registry("memindex.ingesters", "ingester")
AGENTS: Registry[Any] = Registry("memindex.agents", "agent")


class IngestSettings(Protocol):
    """What the facade needs of an ingest config (``memindex.ingest.IngestConfig``, which the core may not
    import): a frozen dataclass that can be saved as a dict."""

    def to_dict(self) -> dict[str, Any]: ...


class MemoryIndex:
    """Search, browse, ask and manage one collection. Thread-safe for reads; writes serialise."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reader = Reader(store)
        self._searcher = Searcher(store)
        self._agents: dict[str, Any] = {}

    # -- read side -------------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 10,
        *,
        tiers: Sequence[str] | None = None,
        levels: Sequence[str] | None = None,
        videos: Sequence[str] | None = None,
        time_range: tuple[float, float | None] | None = None,
    ) -> list[Hit]:
        """Ranked hits across tiers; each hit carries video id, uri, start/end seconds and its evidence.
        ``time_range`` is (start, end) in seconds; an end of None (or +inf) is open."""
        vids = [self.reader.resolve_video(v) for v in videos] if videos else None
        if time_range is not None:
            lo, hi = check_span(*time_range)
            time_range = (lo if lo is not None else 0.0, hi if hi is not None else math.inf)
        return self._searcher.search(query, k=k, tiers=tiers, levels=levels, videos=vids, time_range=time_range)

    def _get_agent(self, name: str) -> Any:
        if name not in self._agents:
            self._agents[name] = AGENTS.create(name, self)
        return self._agents[name]

    @checked_options("ask")
    def ask(
        self,
        question: str,
        *,
        max_steps: int | None = None,
        max_seconds: float | None = None,
        max_tokens: int | None = None,
        min_confidence: float | None = None,
        videos: Sequence[str] | None = None,
        budget: Any = None,
        llm: Any = None,
        agent: str = "default",
    ) -> Any:
        """Run the retrieval agent (``memindex.agents`` entry point ``agent``); returns its Answer
        (``.to_dict()``: answer, confidence, citations, evidence, trace, cost). The options are the ``ask``
        operation's (``memindex.operations``); ``budget`` (a ``memindex.query.agent.Budget``) replaces the
        three limits, ``llm`` (an ``LLMConfig`` or a chat client) makes the agent plan with an LLM. None: the
        agent's default (the deterministic planner; the environment is not read)."""
        options = _given(max_steps, max_seconds, max_tokens, min_confidence, videos, budget, llm)
        return self._get_agent(agent).ask(question, **options)

    @checked_options("ask")
    def ask_stream(
        self,
        question: str,
        *,
        max_steps: int | None = None,
        max_seconds: float | None = None,
        max_tokens: int | None = None,
        min_confidence: float | None = None,
        videos: Sequence[str] | None = None,
        budget: Any = None,
        llm: Any = None,
        agent: str = "default",
    ) -> Iterator[dict[str, Any]]:
        """The same agent loop and options as ``ask``, yielding each step as a dict and the answer last
        (``{"type": "answer"}``)."""
        options = _given(max_steps, max_seconds, max_tokens, min_confidence, videos, budget, llm)
        return iter(self._get_agent(agent).stream(question, **options))

    def videos(self) -> Results[Video]:
        """Every video of the collection (``.to_pandas()``, ``.to_arrow()``, ``.to_list()``)."""
        return Results.of(Video, self.reader.videos())

    def video(self, ref: str) -> Video:
        return Video(self.reader.video(self.reader.resolve_video(ref)))

    def transcript(self, video: str, start: float | None = None, end: float | None = None) -> Results[Utterance]:
        return Results.of(Utterance, self.reader.transcript(self.reader.resolve_video(video), start, end))

    def screen_text(self, video: str, start: float | None = None, end: float | None = None) -> Results[ScreenText]:
        return Results.of(ScreenText, self.reader.screen_text(self.reader.resolve_video(video), start, end))

    def frames(
        self, video: str, start: float | None = None, end: float | None = None, n: int | None = None
    ) -> Results[Frame]:
        return Results.of(Frame, self.reader.frames(self.reader.resolve_video(video), start, end, n))

    def browse(
        self, video: str, level: str = "chapter", time_range: tuple[float, float] | None = None
    ) -> Results[Segment]:
        start, end = time_range if time_range else (None, None)
        return Results.of(Segment, self.reader.browse(self.reader.resolve_video(video), level, start, end))

    def get_segment(self, segment_id: int) -> Segment:
        return Segment(self.reader.segment(segment_id))

    def stats(self) -> dict[str, Any]:
        return self.reader.stats()

    # -- semantic memory -------------------------------------------------------------------------------
    def entities(self, kind: str | None = None, query: str | None = None) -> list[dict[str, Any]]:
        """Speakers, faces, names, terms and topics, most mentioned first; ``query`` matches names/aliases."""
        from memindex.catalog.semantic import list_entities

        with self.store.Session() as s:
            return list_entities(s, kind, query)

    def entity(self, name_or_id: str | int) -> dict[str, Any]:
        """One entity (by id, ``spk<id>``, name or alias) with all its mentions and facts."""
        from memindex.catalog.semantic import entity_dict, resolve_entity

        with self.store.Session() as s:
            return entity_dict(s, resolve_entity(s, name_or_id))

    def rename_entity(self, name_or_id: str | int, name: str) -> dict[str, Any]:
        """Rename; the name sticks across re-ingest and the old one stays an alias."""
        from memindex.entities import rename_entity

        return rename_entity(self.store, name_or_id, name)

    def merge_entities(self, target: str | int, sources: Sequence[str | int]) -> dict[str, Any]:
        """Fold ``sources`` into ``target`` (mentions, facts, speaker labels); later evidence follows."""
        from memindex.entities import merge_entities

        return merge_entities(self.store, target, list(sources))

    def split_entity(
        self,
        name_or_id: str | int,
        *,
        mention_ids: Sequence[int] | None = None,
        video: str | None = None,
        start: float | None = None,
        end: float | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Move the chosen mentions (ids, or a video and/or time span) to a new entity."""
        from memindex.entities import split_entity

        vid = self.reader.resolve_video(video) if video else None
        return split_entity(self.store, name_or_id, mention_ids=mention_ids, video=vid, start=start, end=end, name=name)

    # -- write side ------------------------------------------------------------------------------------
    @checked_options("ingest")
    def ingest(
        self,
        paths: Sequence[str | Path],
        *,
        config: IngestSettings | dict[str, Any] | None = None,
        executor: str | None = None,
        workers: int | None = None,
        address: str | None = None,
        progress: ProgressCallback | None = None,
        ingester: str = "default",
    ) -> Any:
        """Ingest files and folders (recursively); returns a report of ingested, skipped and failed.

        ``config``: a ``memindex.ingest.IngestConfig`` (or a dict of stage options, ``{"ocr": {"enabled":
        False}}``); ``executor``: ``inline`` (default), ``local`` (``workers`` processes; None: one per core),
        ``ray`` (the cluster at ``address``) or a plugin's name. None: the ingester's default."""
        options = _named(config=config, executor=executor, workers=workers, address=address)
        return INGESTERS.create(ingester, self.store, **options).ingest(paths, progress=progress)

    @checked_options("backfill")
    def backfill(
        self,
        stage: str = "visual",
        *,
        config: IngestSettings | dict[str, Any] | None = None,
        progress: ProgressCallback | None = None,
        ingester: str = "default",
    ) -> Any:
        """Fill a stage that was left pending (e.g. keyframe vectors once CLIP weights are present)."""
        return INGESTERS.create(ingester, self.store, **_named(config=config)).backfill(stage, progress=progress)

    @checked_options("rebuild")
    def rebuild(
        self,
        stage: str,
        videos: Sequence[str] | None = None,
        *,
        config: IngestSettings | dict[str, Any] | None = None,
        progress: ProgressCallback | None = None,
        ingester: str = "default",
    ) -> Any:
        """Re-derive a stage (``events``, ``captions``, ``semantic``) from stored data, without decoding the
        videos again; each video's results are replaced atomically. ``config``: as for ``ingest``."""
        vids = [self.reader.resolve_video(v) for v in videos] if videos else None
        ingest = INGESTERS.create(ingester, self.store, **_named(config=config))
        return ingest.rebuild(stage, vids, progress=progress)

    def delete_video(self, ref: str) -> dict[str, Any]:
        """Delete one video (by id, id prefix or file name, matched literally); returns what was deleted."""
        video = self.reader.video(self.reader.resolve_video(ref))
        self.store.delete_video(video["id"])
        return {"id": video["id"], "uri": video["uri"], "name": Path(video["uri"]).name}

    def check(self, *, repair: bool = False) -> dict[str, Any]:
        """Verify the store (catalog integrity, tier checksums and vectors, media); ``repair`` rebuilds what
        the catalog can rebuild. See ``memindex.integrity``."""
        from memindex.integrity import check_store

        return check_store(self.store, repair=repair)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> MemoryIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_index(
    path: str | Path,
    *,
    collection: str = "default",
    config: StoreConfig | None = None,
    catalog_url: str | None = None,
    create: bool = True,
    tier_token: str | None = None,
    token: str | None = None,
    timeout: float | None = None,
    transport: Any = None,
) -> Any:
    """Open a store directory (created if missing; ``catalog_url``: a shared catalog, ``tier_token``: the
    vector backend's token, never saved), or a server by ``http(s)://`` URL (``token``: its bearer token;
    ``timeout``: seconds per request; ``transport``: an ``httpx`` transport). Options that do not apply to
    what ``path`` names are refused. The environment is not read: the CLI passes what it sets."""
    target = str(path)
    client = _named(token=token, timeout=timeout, transport=transport)
    if target.startswith(("http://", "https://")):
        if config is not None or catalog_url is not None or tier_token is not None or not create:
            raise ConfigError("config, catalog_url, tier_token and create are for a store directory, not a server URL")
        try:
            from memindex.remote import RemoteIndex
        except ImportError as exc:
            raise ConfigError("opening a server needs memindex[server]") from exc
        return RemoteIndex(target, collection=collection, **client)
    if client:
        raise ConfigError(f"{sorted(client)} are for a server URL, not a store directory", path=target)
    store = Store(
        path, config=config, collection=collection, catalog_url=catalog_url, create=create, tier_token=tier_token
    )
    return MemoryIndex(store)


def _named(**values: Any) -> dict[str, Any]:
    """The options that were given (None: left to the callee's default)."""
    return {k: v for k, v in values.items() if v is not None}


def _given(
    max_steps: int | None,
    max_seconds: float | None,
    max_tokens: int | None,
    min_confidence: float | None,
    videos: Sequence[str] | None,
    budget: Any,
    llm: Any,
) -> dict[str, Any]:
    """The ask options that were given, by name, for the agent."""
    return _named(
        max_steps=max_steps,
        max_seconds=max_seconds,
        max_tokens=max_tokens,
        min_confidence=min_confidence,
        videos=videos,
        budget=budget,
        llm=llm,
    )

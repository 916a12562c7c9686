"""User curation of semantic memory (rename, merge, split) and the semantic tier's docs, in the core so the
API, the CLI and the servers share them. Each edit is one ``Store.write()``: the catalog rows, the speaker
labels on words and the tier's docs change together."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import select, update

from memindex.catalog.models import Doc, Utterance, Word
from memindex.catalog.semantic import (
    SEMANTIC_TIER,
    Entity,
    EntityAlias,
    EntityMention,
    Fact,
    FactSource,
    entity_dict,
    normalize,
    resolve_entity,
    semantic_doc_texts,
    speaker_label,
)
from memindex.errors import QueryError
from memindex.store import DocRow, Store, WriteTxn

__all__ = ["refresh_semantic_docs", "rename_entity", "merge_entities", "split_entity", "add_alias"]


def refresh_semantic_docs(txn: WriteTxn, store: Store, video_ids: Iterable[str]) -> int:
    """Replace the semantic docs of the videos with what the catalog says now; returns how many."""
    vids = sorted(set(video_ids))
    if not vids:
        return 0
    txn.remove_docs((Doc.tier == SEMANTIC_TIER) & Doc.video_id.in_(vids))
    rows = [DocRow(v, ref, a, b, text) for v, ref, a, b, text in semantic_doc_texts(txn.session, vids)]
    if rows:
        txn.add_docs(SEMANTIC_TIER, rows, store.text_embedder.embed([r.text for r in rows]))
    return len(rows)


def add_alias(txn: WriteTxn, entity: Entity, key: str, video_key: str = "") -> None:
    """Point ``key`` (in one video, or all) at ``entity``, replacing an older alias of the same key."""
    if not key:
        return
    row = txn.session.scalar(
        select(EntityAlias).where(
            EntityAlias.kind == entity.kind, EntityAlias.key == key, EntityAlias.video_key == video_key
        )
    )
    if row is None:
        txn.session.add(EntityAlias(entity_id=entity.id, kind=entity.kind, key=key, video_key=video_key))
    else:
        row.entity_id = entity.id


def _videos_of(txn: WriteTxn, entity_ids: Sequence[int]) -> set[str]:
    s = txn.session
    vids = set(s.scalars(select(EntityMention.video_id).where(EntityMention.entity_id.in_(entity_ids))))
    facts = select(Fact.id).where(Fact.subject_entity_id.in_(entity_ids) | Fact.object_entity_id.in_(entity_ids))
    vids |= set(s.scalars(select(FactSource.video_id).where(FactSource.fact_id.in_(facts))))
    return vids


def rename_entity(store: Store, ref: str | int, name: str) -> dict[str, Any]:
    """Give an entity a name that sticks: the old name stays an alias, and re-ingest never renames it."""
    name = name.strip()
    if not normalize(name):
        raise QueryError("an entity name needs at least one letter or digit")
    with store.write() as txn:
        ent = resolve_entity(txn.session, ref)
        add_alias(txn, ent, ent.key)
        ent.name, ent.key, ent.user_named = name, normalize(name), True
        add_alias(txn, ent, ent.key)
        txn.session.flush()
        refresh_semantic_docs(txn, store, _videos_of(txn, [ent.id]))
        return entity_dict(txn.session, ent)


def merge_entities(store: Store, target: str | int, sources: Sequence[str | int]) -> dict[str, Any]:
    """Fold ``sources`` into ``target``: mentions, facts, aliases and speaker labels move; each source stays
    as a tombstone so later evidence that matches it lands on the target."""
    with store.write() as txn:
        s = txn.session
        tgt = resolve_entity(s, target)
        srcs = [resolve_entity(s, r) for r in sources]
        srcs = list({e.id: e for e in srcs if e.id != tgt.id}.values())
        if not srcs:
            raise QueryError("nothing to merge: the sources are the target")
        if any(e.kind != tgt.kind for e in srcs):
            raise QueryError(f"cannot merge entities of different kinds into a {tgt.kind}")
        vids = _videos_of(txn, [tgt.id] + [e.id for e in srcs])
        for src in srcs:
            _fold(txn, tgt, src)
        tgt.user_named = True
        s.flush()
        _dedupe_facts(txn, tgt.id)
        refresh_semantic_docs(txn, store, vids)
        return entity_dict(s, tgt)


def _fold(txn: WriteTxn, tgt: Entity, src: Entity) -> None:
    s = txn.session
    s.execute(update(EntityMention).where(EntityMention.entity_id == src.id).values(entity_id=tgt.id))
    s.execute(update(Fact).where(Fact.subject_entity_id == src.id).values(subject_entity_id=tgt.id))
    s.execute(update(Fact).where(Fact.object_entity_id == src.id).values(object_entity_id=tgt.id))
    s.execute(update(Entity).where(Entity.merged_into == src.id).values(merged_into=tgt.id))
    for alias in list(s.scalars(select(EntityAlias).where(EntityAlias.entity_id == src.id))):
        alias.entity_id = tgt.id
    add_alias(txn, tgt, src.key)
    if tgt.kind == "speaker":
        old, new = speaker_label(src.id), speaker_label(tgt.id)
        s.execute(update(Word).where(Word.speaker == old).values(speaker=new))
        s.execute(update(Utterance).where(Utterance.speaker == old).values(speaker=new))
    tgt.centroid, tgt.weight = _mean_centroid([(tgt.centroid, tgt.weight), (src.centroid, src.weight)])
    src.merged_into = tgt.id


def _mean_centroid(parts: Sequence[tuple[bytes | None, float]]) -> tuple[bytes | None, float]:
    vecs = [(np.frombuffer(c, np.float32), max(w, 1e-3)) for c, w in parts if c is not None]
    if not vecs:
        return None, sum(w for _, w in parts)
    mean = sum(v * w for v, w in vecs) / sum(w for _, w in vecs)
    mean = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return np.asarray(mean, np.float32).tobytes(), float(sum(w for _, w in parts))


def _dedupe_facts(txn: WriteTxn, entity_id: int) -> None:
    """Facts that became the same statement after a merge become one fact with all their sources."""
    s = txn.session
    seen: dict[tuple[str, str], Fact] = {}
    for f in list(s.scalars(select(Fact).where(Fact.subject_entity_id == entity_id).order_by(Fact.id))):
        key = (normalize(f.relation), normalize(f.object_text))
        keep = seen.setdefault(key, f)
        if keep is not f:
            s.execute(update(FactSource).where(FactSource.fact_id == f.id).values(fact_id=keep.id))
            keep.first_seen, keep.last_seen = min(keep.first_seen, f.first_seen), max(keep.last_seen, f.last_seen)
            s.delete(f)


def split_entity(
    store: Store,
    ref: str | int,
    *,
    mention_ids: Sequence[int] | None = None,
    video: str | None = None,
    start: float | None = None,
    end: float | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Move the chosen mentions (by id, or by video and time span) to a new entity. The split sticks: for a
    speaker each side keeps the centroid of its own turns; for a name split by video, that video's alias
    points at the new entity."""
    with store.write() as txn:
        s = txn.session
        ent = resolve_entity(s, ref)
        q = select(EntityMention).where(EntityMention.entity_id == ent.id)
        if mention_ids:
            q = q.where(EntityMention.id.in_(list(mention_ids)))
        if video:
            q = q.where(EntityMention.video_id == video)
        if start is not None:
            q = q.where(EntityMention.end > start)
        if end is not None:
            q = q.where(EntityMention.start < end)
        if not (mention_ids or video or start is not None or end is not None):
            raise QueryError("say which mentions to split off (mention ids, a video or a time span)")
        moved = list(s.scalars(q))
        total = s.scalar(
            select(EntityMention.id)
            .where(EntityMention.entity_id == ent.id, EntityMention.id.not_in([m.id for m in moved]))
            .limit(1)
        )
        if not moved or total is None:
            raise QueryError("a split needs some mentions on each side")
        new = Entity(kind=ent.kind, name=(name or f"{ent.name} (split)").strip(), user_named=True)
        new.key = normalize(new.name)
        s.add(new)
        s.flush()
        _move(txn, ent, new, moved, by_video=video if video and not mention_ids else None)
        ent.user_named = True
        s.flush()
        refresh_semantic_docs(txn, store, {m.video_id for m in moved} | _videos_of(txn, [ent.id]))
        return {"from": entity_dict(s, ent), "new": entity_dict(s, new)}


def _move(txn: WriteTxn, old: Entity, new: Entity, moved: Sequence[EntityMention], by_video: str | None) -> None:
    s = txn.session
    for m in moved:
        m.entity_id = new.id
        if old.kind == "speaker":
            for model in (Word, Utterance):
                s.execute(
                    update(model)
                    .where(
                        model.video_id == m.video_id,
                        model.speaker == speaker_label(old.id),
                        model.start >= m.start - 1e-6,
                        model.end <= m.end + 1e-6,
                    )
                    .values(speaker=speaker_label(new.id))
                )
    s.flush()
    if by_video:
        add_alias(txn, new, old.key, by_video)
    add_alias(txn, new, new.key)
    for e in (old, new):
        embs = s.scalars(
            select(EntityMention).where(EntityMention.entity_id == e.id, EntityMention.embedding.is_not(None))
        )
        parts = [(m.embedding, m.end - m.start) for m in embs]
        if parts:
            e.centroid, e.weight = _mean_centroid(parts)
    spans = {(m.video_id, m.start, m.end) for m in moved}
    for f in list(s.scalars(select(Fact).where(Fact.subject_entity_id == old.id))):
        srcs = list(s.scalars(select(FactSource).where(FactSource.fact_id == f.id)))
        if srcs and all(
            any(
                v == src.video_id and a - 1e-6 <= src.start and src.end <= b + 1e-6 or (by_video and v == src.video_id)
                for v, a, b in spans
            )
            for src in srcs
        ):
            f.subject_entity_id = new.id

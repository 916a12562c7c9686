"""Semantic memory in the catalog: entities (speakers, faces, names, terms, topics) with their mentions and
aliases, and facts with their sources; how a video's deletion prunes them; the semantic tier's doc texts.

Conventions:
- ``Entity.key`` is the normalised name used for matching; ``EntityAlias`` rows map other keys (old names,
  merged entities' names) to an entity, for all videos (``video_key=""``) or one video id (a split).
- A merged entity stays as a tombstone (``merged_into`` set) so evidence that would have matched it lands on
  the merge target on re-ingest; it is removed with its target (FK cascade).
- ``user_named`` marks an entity the user curated (renamed, merge target, split result): deletion of the
  videos that mention it keeps it, with no mentions, so a re-ingest finds it again.
- Speaker entities label words and utterances as ``spk<id>`` (``speaker_label``).
- Semantic tier docs: one per (entity, video) with ``ref_id = -entity_id`` and one per (fact, video) with
  ``ref_id = fact_id``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    delete,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from memindex.catalog.models import Base, Video
from memindex.errors import NotFoundError, QueryError

__all__ = [
    "Entity",
    "EntityMention",
    "EntityAlias",
    "Fact",
    "FactSource",
    "ENTITY_KINDS",
    "SEMANTIC_TIER",
    "normalize",
    "speaker_label",
    "parse_speaker_label",
    "prune_video",
    "prune_orphans",
    "resolve_entity",
    "entity_dict",
    "list_entities",
    "semantic_doc_texts",
]

ENTITY_KINDS = ("speaker", "face", "name", "term", "topic")
SEMANTIC_TIER = "semantic"
_SPEAKER = re.compile(r"^spk(\d+)$")
_KIND_LABEL = {"speaker": "Speaker", "face": "Face", "name": "Name", "term": "Term", "topic": "Topic"}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _entity_fk(ondelete: str = "CASCADE") -> ForeignKey:
    return ForeignKey("entities.id", ondelete=ondelete)


class Entity(Base):
    __tablename__ = "entities"
    __table_args__ = (Index("ix_entities_kind_key", "kind", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(String(256))
    user_named: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_into: Mapped[int | None] = mapped_column(_entity_fk(), nullable=True, index=True)
    centroid: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # float32, speakers and faces
    weight: Mapped[float] = mapped_column(Float, default=0.0)  # evidence behind the centroid (seconds, faces)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class EntityMention(Base):
    __tablename__ = "entity_mentions"
    __table_args__ = (Index("ix_entity_mentions_video_start", "video_id", "start"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(_entity_fk(), index=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="SET NULL"), nullable=True)
    source: Mapped[str] = mapped_column(String(16))  # diarization | asr | ocr | pattern | llm | face
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # a speaker turn's voice


class EntityAlias(Base):
    __tablename__ = "entity_aliases"
    __table_args__ = (UniqueConstraint("kind", "key", "video_key", name="uq_entity_aliases_kind_key_video"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(_entity_fk(), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(256))
    video_key: Mapped[str] = mapped_column(String(32), default="")  # "" = every video; else one video id
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Fact(Base):
    __tablename__ = "facts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_entity_id: Mapped[int] = mapped_column(_entity_fk(), index=True)
    relation: Mapped[str] = mapped_column(String(128))
    object_text: Mapped[str] = mapped_column(Text)
    object_entity_id: Mapped[int | None] = mapped_column(_entity_fk("SET NULL"), nullable=True, index=True)
    source: Mapped[str] = mapped_column(String(16))  # pattern | llm
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class FactSource(Base):
    __tablename__ = "fact_sources"
    __table_args__ = (Index("ix_fact_sources_video_start", "video_id", "start"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fact_id: Mapped[int] = mapped_column(ForeignKey("facts.id", ondelete="CASCADE"), index=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="SET NULL"), nullable=True)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)


# -- names ------------------------------------------------------------------------------------------------
def normalize(name: str) -> str:
    """The matching key of a name: NFKC, case-folded, punctuation dropped, spaces collapsed."""
    text = unicodedata.normalize("NFKC", name).casefold()
    text = re.sub(r"[^\w\s]", " ", text, flags=re.UNICODE)
    return " ".join(text.split())[:256]


def speaker_label(entity_id: int) -> str:
    return f"spk{entity_id}"


def parse_speaker_label(label: str) -> int | None:
    m = _SPEAKER.match(label.strip())
    return int(m.group(1)) if m else None


# -- pruning --------------------------------------------------------------------------------------------
def prune_video(session: Session, video_id: str) -> None:
    """Drop a video's mentions and fact sources, then what no evidence supports any more (in the caller's
    transaction, before the video row goes)."""
    session.execute(delete(EntityMention).where(EntityMention.video_id == video_id))
    session.execute(delete(FactSource).where(FactSource.video_id == video_id))
    prune_orphans(session)


def prune_orphans(session: Session) -> None:
    """Facts without sources go; entities without mentions go unless the user curated them (``user_named``),
    a surviving fact names them, or they are a merge tombstone (those go with their target)."""
    session.execute(delete(Fact).where(~exists().where(FactSource.fact_id == Fact.id)))
    has_mention = exists().where(EntityMention.entity_id == Entity.id)
    in_fact = exists().where(or_(Fact.subject_entity_id == Entity.id, Fact.object_entity_id == Entity.id))
    session.execute(delete(Entity).where(~Entity.user_named, Entity.merged_into.is_(None), ~has_mention, ~in_fact))


# -- reads ----------------------------------------------------------------------------------------------
def resolve_entity(session: Session, ref: str | int) -> Entity:
    """An entity (following merges) from its id, its speaker label (``spk12``), its name or an alias."""
    ent: Entity | None = None
    text = str(ref).strip()
    num = int(text) if text.isdigit() else parse_speaker_label(text)
    if num is not None:
        ent = session.get(Entity, num)
    if ent is None:
        key = normalize(text)
        rows = list(session.scalars(select(Entity).where(Entity.key == key, Entity.merged_into.is_(None))))
        if not rows:
            ids = session.scalars(select(EntityAlias.entity_id).where(EntityAlias.key == key)).all()
            rows = list(session.scalars(select(Entity).where(Entity.id.in_(set(ids)))))
        if len(rows) > 1:
            raise QueryError(f"{text!r} names {len(rows)} entities ({', '.join(str(e.id) for e in rows)}); give the id")
        ent = rows[0] if rows else None
    if ent is None:
        raise NotFoundError(f"no entity {text!r}")
    return live_entity(session, ent)


def live_entity(session: Session, ent: Entity) -> Entity:
    """Follow merges from a tombstone to the entity that holds its evidence now (cycles stop)."""
    seen = {ent.id}
    while ent.merged_into is not None:
        nxt = session.get(Entity, ent.merged_into)
        if nxt is None or nxt.id in seen:
            break
        ent = nxt
        seen.add(ent.id)
    return ent


def _summary(e: Entity, n_mentions: int, n_videos: int) -> dict[str, Any]:
    out = {
        "id": e.id,
        "kind": e.kind,
        "name": e.name,
        "user_named": e.user_named,
        "mentions": n_mentions,
        "videos": n_videos,
    }
    if e.kind == "speaker":
        out["label"] = speaker_label(e.id)
    return out


def list_entities(session: Session, kind: str | None = None, query: str | None = None) -> list[dict[str, Any]]:
    """Live entities (no tombstones), most mentioned first; ``query`` matches names and aliases."""
    q = (
        select(Entity, func.count(EntityMention.id), func.count(func.distinct(EntityMention.video_id)))
        .outerjoin(EntityMention, EntityMention.entity_id == Entity.id)
        .where(Entity.merged_into.is_(None))
        .group_by(Entity.id)
    )
    if kind:
        if kind not in ENTITY_KINDS:
            raise QueryError(f"unknown entity kind {kind!r}; valid: {list(ENTITY_KINDS)}")
        q = q.where(Entity.kind == kind)
    if query:
        key = f"%{normalize(query)}%"
        aliased = select(EntityAlias.entity_id).where(EntityAlias.key.like(key))
        q = q.where(or_(Entity.key.like(key), Entity.id.in_(aliased)))
    rows = session.execute(q.order_by(func.count(EntityMention.id).desc(), Entity.id)).all()
    return [_summary(e, int(n), int(v)) for e, n, v in rows]


def entity_dict(session: Session, ent: Entity) -> dict[str, Any]:
    """An entity with its aliases, every mention (video, uri, time) and the facts about or naming it."""
    mentions = session.execute(
        select(EntityMention, Video.uri)
        .join(Video, Video.id == EntityMention.video_id)
        .where(EntityMention.entity_id == ent.id)
        .order_by(EntityMention.video_id, EntityMention.start)
    ).all()
    out = _summary(ent, len(mentions), len({m.video_id for m, _ in mentions}))
    out["aliases"] = sorted(
        {
            a.key if not a.video_key else f"{a.key} (video {a.video_key})"
            for a in session.scalars(select(EntityAlias).where(EntityAlias.entity_id == ent.id))
        }
    )
    out["merged"] = list(session.scalars(select(Entity.id).where(Entity.merged_into == ent.id)))
    out["mention_list"] = [
        {
            "id": m.id,
            "video_id": m.video_id,
            "uri": uri,
            "start": round(m.start, 3),
            "end": round(m.end, 3),
            "segment_id": m.segment_id,
            "source": m.source,
            "text": m.text,
            "confidence": round(m.confidence, 3),
        }
        for m, uri in mentions
    ]
    facts = session.scalars(
        select(Fact).where(or_(Fact.subject_entity_id == ent.id, Fact.object_entity_id == ent.id)).order_by(Fact.id)
    )
    out["facts"] = [fact_dict(session, f) for f in facts]
    return out


def fact_dict(session: Session, f: Fact) -> dict[str, Any]:
    subject = session.get(Entity, f.subject_entity_id)
    sources = session.scalars(select(FactSource).where(FactSource.fact_id == f.id).order_by(FactSource.start))
    return {
        "id": f.id,
        "subject": subject.name if subject else None,
        "subject_id": f.subject_entity_id,
        "relation": f.relation,
        "object": f.object_text,
        "object_id": f.object_entity_id,
        "source": f.source,
        "confidence": round(f.confidence, 3),
        "first_seen": f.first_seen.isoformat(),
        "last_seen": f.last_seen.isoformat(),
        "sources": [
            {
                "video_id": s.video_id,
                "segment_id": s.segment_id,
                "start": round(s.start, 3),
                "end": round(s.end, 3),
                "text": s.text,
            }
            for s in sources
        ],
    }


def fact_text(session: Session, f: Fact) -> str:
    subject = session.get(Entity, f.subject_entity_id)
    return f"{subject.name if subject else '?'} {f.relation} {f.object_text}"


# -- semantic tier docs -----------------------------------------------------------------------------------
def semantic_doc_texts(session: Session, video_ids: Iterable[str]) -> list[tuple[str, int, float, float, str]]:
    """``(video_id, ref_id, start, end, text)`` of every semantic doc the videos should have now."""
    out: list[tuple[str, int, float, float, str]] = []
    for vid in video_ids:
        spans: dict[int, list[EntityMention]] = defaultdict(list)
        for m in session.scalars(select(EntityMention).where(EntityMention.video_id == vid)):
            spans[m.entity_id].append(m)
        facts: dict[int, list[FactSource]] = defaultdict(list)
        for src in session.scalars(select(FactSource).where(FactSource.video_id == vid)):
            facts[src.fact_id].append(src)
        fact_rows = {f.id: f for f in session.scalars(select(Fact).where(Fact.id.in_(list(facts))))}
        about: dict[int, list[str]] = defaultdict(list)
        for fid, f in sorted(fact_rows.items()):
            text = fact_text(session, f)
            about[f.subject_entity_id].append(text)
            srcs = facts[fid]
            out.append((vid, fid, min(s.start for s in srcs), max(s.end for s in srcs), text + "."))
        for eid, ms in sorted(spans.items()):
            ent = session.get(Entity, eid)
            if ent is not None:
                out.append(
                    (
                        vid,
                        -eid,
                        min(m.start for m in ms),
                        max(m.end for m in ms),
                        _entity_text(ent, ms, about.get(eid, [])),
                    )
                )
    return out


def _entity_text(ent: Entity, mentions: Sequence[EntityMention], facts: Sequence[str]) -> str:
    label = _KIND_LABEL.get(ent.kind, ent.kind)
    head = f"{label} {ent.name}" + (f" ({speaker_label(ent.id)})" if ent.kind == "speaker" else "")
    if ent.kind == "speaker":
        secs = sum(m.end - m.start for m in mentions)
        body = f"speaks in {len(mentions)} turns, {secs:.0f} s in this video."
    else:
        body = f"mentioned {len(mentions)} times in this video."
    said = [m.text for m in mentions if m.text][:3]
    parts = [
        f"{head}: {body}",
        ("Facts: " + "; ".join(facts) + ".") if facts else "",
        ("Context: " + " | ".join(said)) if said and ent.kind != "speaker" else "",
    ]
    return " ".join(p for p in parts if p)

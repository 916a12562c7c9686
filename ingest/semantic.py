"""Consolidation of a video into semantic memory: recurring names (speech), terms (screen text) and faces
(keyframes, ``ingest/faces.py``), facts by an LLM when one is configured or by simple patterns ("X is Y",
"my name is X", "this is X", "I'm X", title cards), merged into the collection's entities and facts; then
the video's semantic tier docs.

Three steps: ``load_semantic`` reads the video's rows (and keyframes), ``produce_semantic`` finds the
evidence with no store at all, ``commit_semantic`` matches it to the collection's entities and replaces the
video's own evidence (mentions from asr/ocr/pattern/llm/face, its fact sources) in one ``store.write()``;
speaker turns (diarization) are kept. User edits stick: names resolve through aliases
(renames, merges, per-video split aliases) before anything new is created."""

from __future__ import annotations

import difflib
import json
import logging
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources

from sqlalchemy import delete, select

from memindex.catalog.models import Segment
from memindex.catalog.semantic import (
    Entity,
    EntityAlias,
    EntityMention,
    Fact,
    FactSource,
    normalize,
    parse_speaker_label,
    prune_orphans,
)
from memindex.entities import refresh_semantic_docs
from memindex.errors import MissingDependencyError, StageError
from memindex.ingest.faces import FaceEncoder, detect_faces, faces_installed, group_faces, write_faces
from memindex.ingest.store_records import (
    Evidence,
    FaceSighting,
    FactClaim,
    SemanticInputs,
    SemanticRecords,
    VideoRows,
)
from memindex.ingest.stored import ingest_key, load_rows
from memindex.llm import ChatClient, LLMConfig, LLMError
from memindex.store import Store

__all__ = [
    "SemanticConfig",
    "Evidence",
    "consolidate",
    "load_semantic",
    "produce_semantic",
    "commit_semantic",
    "pattern_facts",
]

log = logging.getLogger(__name__)
_OWN = ("asr", "ocr", "pattern", "llm")
_NAME = r"([A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2})"
_PATTERNS = [
    (re.compile(r"\b(?i:my name is|this is|i'm|i am) " + _NAME), "self", "is named"),
    (re.compile(_NAME + r" (?:is|was) (?:a|an|the) ([a-z][\w\s'-]{2,40}?)(?:[.,;!?]|$)"), "name", "is"),
]
_TITLE = re.compile(r"^([A-Z0-9][A-Z0-9 ]{2,40}):\s*(.{3,60})$")
_STOPNAMES = frozenset(
    "I The A An And But So Oh Yes No Okay Ok Well Hello Hi This That It We You He She They "
    "What When Where Why How There Here".split()
)


@dataclass(frozen=True)
class SemanticConfig:
    """``name_similarity``/``fact_similarity``: string similarity (0..1) above which new evidence merges
    into an existing entity / fact; ``min_mentions``: a name or term must recur this often in a video;
    ``face_threshold``: euclidean distance between dlib face descriptors under which two faces (and a face
    and a face entity's centroid) are one person."""

    enabled: bool = True
    facts: str = "auto"  # auto (the LLM when `llm` is set, else patterns) | patterns | llm | none
    name_similarity: float = 0.9
    fact_similarity: float = 0.85
    min_mentions: int = 2
    faces: bool = True  # face entities from keyframes (memindex[faces]); skipped, with a warning, without it
    face_threshold: float = 0.6
    llm: LLMConfig | None = None  # the facts endpoint (the CLI and server: MEMINDEX_LLM_*; its key never saved)


def _names(rows) -> list[Evidence]:  # type: ignore[no-untyped-def]
    """Capitalised words and runs inside sentences (speech), and screen-text lines (terms)."""
    out = []
    for u in rows.utterances:
        for m in re.finditer(r"(?<![.!?]\s)(?<!^)\b" + _NAME, u.text):
            if m.group(1).split()[0] not in _STOPNAMES:
                out.append(Evidence("name", m.group(1), u.start, u.end, "asr", u.text))
    for ln in rows.ocr:
        text = " ".join(ln.text.split())
        if len(normalize(text)) >= 3:
            out.append(Evidence("term", text, ln.start, ln.end, "ocr", text))
    return out


def pattern_facts(rows) -> list[tuple[str, str, str, float, float, str, str | None]]:  # type: ignore[no-untyped-def]
    """``(subject, relation, object, start, end, text, speaker)`` from the patterns and title cards."""
    out = []
    for u in rows.utterances:
        for rx, subj, rel in _PATTERNS:
            for m in rx.finditer(u.text):
                if m.group(1).split()[0] in _STOPNAMES:
                    continue
                if subj == "self":
                    if u.speaker:
                        out.append((u.speaker, rel, m.group(1), u.start, u.end, u.text, u.speaker))
                else:
                    out.append((m.group(1), rel, m.group(2).strip(), u.start, u.end, u.text, u.speaker))
    for ln in rows.ocr:
        m = _TITLE.match(" ".join(ln.text.split()))
        if m:
            out.append((m.group(1).title(), "is titled", m.group(2), ln.start, ln.end, ln.text, None))
    return out


def _llm_facts(rows, cfg: LLMConfig) -> list[tuple[str, str, str, float, float, str, str | None]]:  # type: ignore[no-untyped-def]
    prompt = resources.files("memindex.ingest").joinpath("prompts/facts.txt").read_text("utf-8")
    text = "\n".join(u.text for u in rows.utterances) + "\n" + "\n".join(ln.text for ln in rows.ocr)
    client = ChatClient(cfg)
    try:
        reply = client.chat([{"role": "user", "content": prompt.format(text=text[:6000])}], max_tokens=600)
    finally:
        client.close()
    body = reply.content.strip().removeprefix("```json").removeprefix("```").removesuffix("```")
    items = json.loads(body)
    out = []
    for it in items if isinstance(items, list) else []:
        if isinstance(it, dict) and all(
            isinstance(it.get(k), str) and it[k].strip() for k in ("subject", "relation", "object")
        ):
            where = _locate(rows, it["subject"], it["object"])
            out.append((it["subject"].strip(), it["relation"].strip(), it["object"].strip(), *where, None))
    return out


def _locate(rows, *needles: str) -> tuple[float, float, str]:  # type: ignore[no-untyped-def]
    for u in list(rows.utterances) + list(rows.ocr):
        if any(n.lower() in u.text.lower() for n in needles):
            return u.start, u.end, u.text
    return 0.0, rows.duration, ""


class _Resolver:
    """Finds the entity for a name in a video: per-video alias, alias, key, similar key; else a new one."""

    def __init__(self, session, video_id: str, cfg: SemanticConfig) -> None:  # type: ignore[no-untyped-def]
        self.s, self.vid, self.cfg = session, video_id, cfg

    def entity(self, kind: str, name: str) -> Entity:
        if kind == "speaker" or parse_speaker_label(name) is not None:
            ent = self.s.get(Entity, parse_speaker_label(name))
            if ent is not None:
                return ent
        key = normalize(name)
        for vk in (self.vid, ""):
            eid = self.s.scalar(
                select(EntityAlias.entity_id).where(
                    EntityAlias.kind == kind, EntityAlias.key == key, EntityAlias.video_key == vk
                )
            )
            if eid is not None:
                return self._live(self.s.get(Entity, eid))
        if kind == "name":  # a voice that said its name is that person
            spk = self.s.scalar(
                select(Entity).where(Entity.kind == "speaker", Entity.key == key, Entity.merged_into.is_(None)).limit(1)
            )
            if spk is not None:
                return spk
        cands = list(self.s.scalars(select(Entity).where(Entity.kind == kind)))
        best = max(cands, key=lambda e: difflib.SequenceMatcher(None, e.key, key).ratio(), default=None)
        if best is not None and difflib.SequenceMatcher(None, best.key, key).ratio() >= self.cfg.name_similarity:
            return self._live(best)
        ent = Entity(kind=kind, name=name.strip(), key=key, user_named=False, weight=0.0)
        self.s.add(ent)
        self.s.flush()
        return ent

    def _live(self, e: Entity) -> Entity:
        seen = set()
        while e.merged_into is not None and e.id not in seen:
            seen.add(e.id)
            e = self.s.get(Entity, e.merged_into)
        return e


def consolidate(
    store: Store, video_id: str, cfg: SemanticConfig | None = None, face_encoder: FaceEncoder | None = None
) -> dict:
    """Re-derive the video's names, terms, faces and facts and its semantic docs, atomically: exactly
    ``load_semantic``, ``produce_semantic``, ``commit_semantic``. ``face_encoder`` lets a caller load dlib's
    models once for many videos."""
    cfg = cfg or SemanticConfig()
    return commit_semantic(store, produce_semantic(load_semantic(store, video_id, cfg), cfg, face_encoder))


def load_semantic(store: Store, video_id: str, cfg: SemanticConfig | None = None) -> SemanticInputs:
    """The video's rows, and its keyframe images when faces are looked for (and dlib is installed). The
    collection's entities are not loaded: they are matched inside the commit (see ``commit_semantic``)."""
    cfg = cfg or SemanticConfig()
    images = "all" if cfg.faces and faces_installed() else "none"
    return SemanticInputs(load_rows(store, video_id, None, images=images))


def produce_semantic(
    inputs: SemanticInputs, cfg: SemanticConfig | None = None, face_encoder: FaceEncoder | None = None
) -> SemanticRecords:
    """What the video says, from its rows alone (no store): names and terms that recur, fact claims (the
    LLM when configured, else patterns), and its faces grouped into people."""
    cfg = cfg or SemanticConfig()
    t0 = time.perf_counter()
    rows = inputs.rows
    evidence = _names(rows)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for e in evidence:
        counts[(e.kind, normalize(e.name))] += 1
    evidence = [e for e in evidence if counts[(e.kind, normalize(e.name))] >= cfg.min_mentions]
    facts, model = _facts(rows, cfg)
    sightings, face_note = _faces(rows, cfg, face_encoder)
    groups = None if sightings is None else group_faces(sightings, cfg.face_threshold)
    return SemanticRecords(
        rows.video_id,
        rows.key,
        tuple(evidence),
        tuple(FactClaim(*f) for f in facts),
        model,
        groups,
        len(sightings or []),
        face_note,
        cfg,
        time.perf_counter() - t0,
    )


def commit_semantic(store: Store, records: SemanticRecords) -> dict:
    """Replace the video's own evidence with ``records`` in one ``store.write()``.

    The records name people, places and faces but are not matched to the collection's entities: matching
    (aliases, user renames and merges, similar names, face centroids, existing facts) happens here, inside
    the transaction, against the entities as they are at commit time. Another video committed (or a user
    edit) between load and commit is therefore always seen, with no snapshot to go stale and no redo; the
    matching is cheap next to the producer's work (faces, LLM facts). Nothing is written when the video was
    deleted, or deleted and ingested again, since it was loaded."""
    from memindex.ingest.commit import record_stage

    t0 = time.perf_counter()
    cfg: SemanticConfig = records.cfg
    video_id = records.video_id
    with store.write() as txn:
        s = txn.session
        if ingest_key(s, video_id) != records.key:
            return {}
        own = _OWN + (("face",) if records.faces is not None else ())  # faces skipped: keep the earlier ones
        s.execute(delete(EntityMention).where(EntityMention.video_id == video_id, EntityMention.source.in_(own)))
        s.execute(delete(FactSource).where(FactSource.video_id == video_id))
        res = _Resolver(s, video_id, cfg)
        shots = [
            (g.start, g.end, g.id)
            for g in s.scalars(
                select(Segment).where(Segment.video_id == video_id, Segment.level == "shot").order_by(Segment.start)
            )
        ]
        n_facts = _add_facts(s, res, video_id, records.facts, records.model, shots, cfg)  # first: voices get names
        for e in records.evidence:
            ent = res.entity(e.kind, e.name)
            s.add(
                EntityMention(
                    entity_id=ent.id,
                    video_id=video_id,
                    start=e.start,
                    end=e.end,
                    source=e.source,
                    text=e.text[:500],
                    confidence=1.0,
                    segment_id=_shot(shots, e.start, e.end),
                )
            )
        n_faces = write_faces(s, video_id, records.faces or (), cfg.face_threshold)
        for m in s.scalars(
            select(EntityMention).where(EntityMention.video_id == video_id, EntityMention.segment_id.is_(None))
        ):
            m.segment_id = _shot(shots, m.start, m.end)
        s.flush()
        prune_orphans(s)
        n_docs = refresh_semantic_docs(txn, store, [video_id])
        faces = records.face_note or f"{n_faces} faces in {records.sightings} sightings"
        detail = f"{len(records.evidence)} mentions, {n_facts} facts, {faces}, {n_docs} docs"
        seconds = records.seconds + time.perf_counter() - t0
        record_stage(txn, video_id, "semantic", "done", records.model, detail, seconds)
    return {"mentions": len(records.evidence), "facts": n_facts, "faces": n_faces, "docs": n_docs}


def _faces(
    rows: VideoRows, cfg: SemanticConfig, encoder: FaceEncoder | None
) -> tuple[list[FaceSighting] | None, str | None]:
    """The video's face sightings, or None and why not: faces off, or dlib missing or failing (said once
    per video; names, terms and facts go on)."""
    if not cfg.faces:
        return None, "faces off"
    if not rows.frames:
        return [], None
    try:
        return detect_faces(rows, encoder or FaceEncoder()), None
    except MissingDependencyError as exc:
        log.warning("faces SKIPPED for video %s: %s", rows.video_id, exc)
        return None, f"faces skipped ({exc.package} missing)"
    except StageError as exc:
        log.error("faces FAILED for video %s: %s", rows.video_id, exc)
        return None, f"faces failed ({exc.message})"


def _facts(rows, cfg: SemanticConfig):  # type: ignore[no-untyped-def]
    if cfg.facts == "none":
        return [], None
    llm = cfg.llm if cfg.facts in ("auto", "llm") else None
    if llm is not None:
        try:
            return pattern_facts(rows) + _llm_facts(rows, llm), f"llm:{llm.model}"
        except (LLMError, ValueError) as exc:
            log.warning("LLM facts failed for video %s (%s); using patterns", rows.video_id, exc)
    return pattern_facts(rows), "patterns"


def _add_facts(s, res: _Resolver, vid: str, facts: Sequence[FactClaim], model, shots, cfg: SemanticConfig) -> int:  # type: ignore[no-untyped-def]
    now = datetime.now(timezone.utc)
    source = "llm" if model and model.startswith("llm") else "pattern"
    n = 0
    for f in facts:
        subj, rel, obj, start, end, text = f.subject, f.relation, f.object, f.start, f.end, f.text
        ent = res.entity("speaker" if parse_speaker_label(subj) is not None else "name", subj)
        if rel == "is named" and ent.kind == "speaker" and not ent.user_named:
            ent.name, ent.key = obj, normalize(obj)  # "my name is Diane": the voice is Diane (until a user edit)
        fact = _same_fact(s, ent.id, rel, obj, cfg.fact_similarity)
        if fact is None:
            fact = Fact(
                subject_entity_id=ent.id,
                relation=rel,
                object_text=obj,
                source=source,
                confidence=1.0,
                first_seen=now,
                last_seen=now,
            )
            s.add(fact)
            s.flush()
        fact.last_seen = now
        s.add(
            FactSource(
                fact_id=fact.id,
                video_id=vid,
                segment_id=_shot(shots, start, end),
                start=start,
                end=end,
                text=text[:500],
            )
        )
        n += 1
    return n


def _same_fact(s, subject: int, rel: str, obj: str, threshold: float) -> Fact | None:  # type: ignore[no-untyped-def]
    key = normalize(obj)
    for f in s.scalars(select(Fact).where(Fact.subject_entity_id == subject, Fact.relation == rel)):
        if difflib.SequenceMatcher(None, normalize(f.object_text), key).ratio() >= threshold:
            return f
    return None


def _shot(shots: list[tuple[float, float, int]], start: float, end: float) -> int | None:
    mid = (start + end) / 2
    for a, b, sid in shots:
        if a <= mid < b:
            return sid
    return None

"""Who spoke when: Silero VAD regions, resemblyzer voice embeddings over sliding windows, average-linkage
clustering per audio chunk; chunk clusters then join the video's speakers, clusters of one voice are merged
across the video (centroid cosine, short clusters absorbed), and the speakers join the collection's speaker
entities by centroid cosine, so a voice keeps one id (``spk<entity id>``) across chunks and videos.

``SpeakerStage`` is what the pipeline's speech stage drives on a worker: ``feed`` each audio chunk, then
``speakers`` gives the video's voices; beside the store, ``match_speakers`` joins them to the collection's
speaker entities and writes their turns, and ``assign_words`` gives every word the speaker whose turns
overlap it most (``label`` does both for one video)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
from sqlalchemy import delete, select

from memindex.catalog.semantic import Entity, EntityMention, live_entity, normalize, prune_orphans, speaker_label
from memindex.errors import ConfigError, MissingDependencyError, StageError
from memindex.ingest.records import AudioChunk, UtteranceRec, WordRec
from memindex.store import Store

__all__ = [
    "DiarizeConfig",
    "Turn",
    "Diarizer",
    "ResemblyzerDiarizer",
    "DIARIZERS",
    "make_diarizer",
    "cluster",
    "absorb_small",
    "merge_clusters",
    "SpeakerStage",
    "assign_words",
    "match_speakers",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiarizeConfig:
    """``cluster_threshold``: cosine distance below which windows join (average linkage, one chunk);
    ``speaker_threshold``: cosine similarity above which a cluster is an existing speaker (other chunks,
    other videos); ``merge_threshold``: centroid cosine at or above which two of the video's clusters are one
    voice; ``min_video_speaker``: seconds of speech under which a video cluster joins its most similar one
    (when that is at least ``speaker_threshold`` similar). The first two were chosen on the pyannote sample,
    the last two fit on the shared labelled audio (benchmarks/diarization.md)."""

    enabled: bool = True
    backend: str = "resemblyzer"
    vad_threshold: float = 0.5
    rate: float = 2.0  # embedding windows (1.6 s each) per second
    cluster_threshold: float = 0.28
    min_speaker: float = 2.0  # clusters with less speech in a chunk join the nearest larger one
    speaker_threshold: float = 0.75
    min_region: float = 0.4  # VAD regions shorter than this are not embedded
    merge_threshold: float = 0.90
    min_video_speaker: float = 4.5

    def __post_init__(self) -> None:
        for name in ("speaker_threshold", "merge_threshold"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"DiarizeConfig.{name} is a cosine similarity in [-1, 1], got {getattr(self, name)}")
        if self.min_video_speaker < 0:
            raise ConfigError(f"DiarizeConfig.min_video_speaker must be >= 0 seconds, got {self.min_video_speaker}")


@dataclass(frozen=True)
class Turn:
    """A stretch of one voice; ``cluster`` is local to one diarizer call until resolved."""

    start: float
    end: float
    cluster: int
    embedding: np.ndarray


class Diarizer(Protocol):
    name: str

    def diarize(self, chunk: AudioChunk) -> list[Turn]:
        """Turns of the chunk in video time, clustered within the chunk."""
        ...


class ResemblyzerDiarizer:
    """GE2E voice embeddings (resemblyzer, 256-d) of 1.6-s windows inside Silero VAD regions."""

    def __init__(self, cfg: DiarizeConfig | None = None) -> None:
        self.cfg = cfg or DiarizeConfig()
        try:
            from resemblyzer import VoiceEncoder
        except ImportError as exc:
            raise MissingDependencyError("resemblyzer", "speakers", "speaker diarization") from exc
        self.name = "resemblyzer-ge2e+silero-vad"
        self._encoder = VoiceEncoder("cpu", verbose=False)
        self._basis: np.ndarray | None = None  # the mel filterbank, built on first use

    def regions(self, samples: np.ndarray, sr: int) -> list[tuple[int, int]]:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        opts = VadOptions(threshold=self.cfg.vad_threshold, min_silence_duration_ms=150, speech_pad_ms=30)
        return [(r["start"], r["end"]) for r in get_speech_timestamps(samples, opts, sampling_rate=sr)]

    def windows(self, chunk: AudioChunk) -> list[tuple[float, float, np.ndarray]]:
        """(start, end, embedding) of each window owning a stretch of speech, in video time."""
        sr, out = chunk.sample_rate, []
        samples = np.ascontiguousarray(chunk.samples, np.float32)
        for a, b in self.regions(samples, sr):
            if (b - a) / sr < self.cfg.min_region:
                continue
            partials, slices = self._partials(samples[a:b])
            centres = [a + (sl.start + min(sl.stop, b - a)) / 2 for sl in slices]
            bounds = [a] + [int((x + y) / 2) for x, y in zip(centres, centres[1:], strict=False)] + [b]
            for k, emb in enumerate(partials):
                if bounds[k + 1] > bounds[k]:
                    out.append((chunk.start + bounds[k] / sr, chunk.start + bounds[k + 1] / sr, emb))
        return out

    def _partials(self, wav: np.ndarray) -> tuple[np.ndarray, list[slice]]:
        """Embeddings of the 1.6-s windows over ``wav`` and their sample slices, as resemblyzer's
        ``embed_utterance(return_partials=True)`` computes them, but with the mel filterbank applied without
        BLAS: librosa's ``einsum(optimize=True)`` goes through BLAS, whose thread count (process-wide, and
        changed by other stages' thread limits) showed in the last bits of the embeddings, so the same video
        gave other voice vectors in a worker process than inline."""
        import torch

        wav_slices, mel_slices = self._encoder.compute_partial_slices(len(wav), self.cfg.rate, 0.5)
        if wav_slices[-1].stop >= len(wav):
            wav = np.pad(wav, (0, wav_slices[-1].stop - len(wav)), "constant")
        mel = self._mel(wav)
        mels = np.array([mel[s] for s in mel_slices])
        with torch.no_grad():
            partials = self._encoder(torch.from_numpy(mels)).cpu().numpy()
        return partials, list(wav_slices)

    def _mel(self, wav: np.ndarray) -> np.ndarray:
        """resemblyzer's mel spectrogram (40 bands, 25-ms windows every 10 ms, power 2) as (frames, 40)."""
        import librosa
        from resemblyzer import hparams

        sr = hparams.sampling_rate
        n_fft = int(sr * hparams.mel_window_length / 1000)
        hop = int(sr * hparams.mel_window_step / 1000)
        if self._basis is None:
            self._basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=hparams.mel_n_channels)
        power = np.abs(librosa.stft(wav, n_fft=n_fft, hop_length=hop, center=True, pad_mode="constant")) ** 2
        return np.einsum("ft,mf->tm", power, self._basis, optimize=False).astype(np.float32)

    def diarize(self, chunk: AudioChunk) -> list[Turn]:
        if chunk.sample_rate != 16000:
            raise StageError(f"diarization needs 16 kHz audio, got {chunk.sample_rate} Hz", t=chunk.start)
        try:
            wins = self.windows(chunk)
        except (RuntimeError, ValueError) as exc:
            raise StageError(f"{self.name} failed: {exc}", t=chunk.start) from exc
        if not wins:
            return []
        vecs = np.stack([w[2] for w in wins])
        labels = cluster(vecs, self.cfg.cluster_threshold)
        labels = absorb_small(vecs, labels, np.array([b - a for a, b, _ in wins]), self.cfg.min_speaker)
        return _turns(wins, labels)


def cluster(vectors: np.ndarray, threshold: float) -> np.ndarray:
    """Average-linkage agglomerative clustering on cosine distance, cut at ``threshold``; labels 0..k-1."""
    if len(vectors) == 1:
        return np.zeros(1, np.int64)
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(np.asarray(vectors, np.float64), method="average", metric="cosine")
    labels = fcluster(tree, t=threshold, criterion="distance")
    _, dense = np.unique(labels, return_inverse=True)
    return dense.astype(np.int64)


def absorb_small(vecs: np.ndarray, labels: np.ndarray, seconds: np.ndarray, min_seconds: float) -> np.ndarray:
    """Clusters holding less than ``min_seconds`` of speech (coughs, laughs, crosstalk) join the nearest
    larger cluster, when there is one; labels are renumbered 0..k-1."""
    totals = np.bincount(labels, weights=seconds)
    big = [k for k in range(len(totals)) if totals[k] >= min_seconds]
    if not big or len(big) == len(totals):
        return labels
    cents = np.stack([_unit(vecs[labels == k].mean(axis=0)) for k in big])
    out = labels.copy()
    for i in np.flatnonzero(~np.isin(labels, big)):
        out[i] = big[int(np.argmax(cents @ vecs[i]))]
    _, dense = np.unique(out, return_inverse=True)
    return dense.astype(np.int64)


def _turns(wins: Sequence[tuple[float, float, np.ndarray]], labels: np.ndarray) -> list[Turn]:
    """Adjacent windows of one label (touching in time) become one turn with their mean embedding."""
    turns: list[Turn] = []
    group: list[int] = []
    for k in range(len(wins) + 1):
        if group and (k == len(wins) or labels[k] != labels[group[-1]] or wins[k][0] > wins[group[-1]][1] + 0.05):
            emb = _unit(np.mean([wins[i][2] for i in group], axis=0))
            turns.append(Turn(wins[group[0]][0], wins[group[-1]][1], int(labels[group[0]]), emb))
            group = []
        if k < len(wins):
            group.append(k)
    return turns


def _unit(v: np.ndarray) -> np.ndarray:
    return np.asarray(v / max(float(np.linalg.norm(v)), 1e-12), np.float32)


DIARIZERS: dict[str, type] = {"resemblyzer": ResemblyzerDiarizer}


def make_diarizer(cfg: DiarizeConfig) -> Diarizer:
    try:
        cls = DIARIZERS[cfg.backend]
    except KeyError:
        raise ConfigError(f"unknown diarizer {cfg.backend!r}; valid names: {sorted(DIARIZERS)}") from None
    return cls(cfg)


# -- words ------------------------------------------------------------------------------------------------
def assign_words(utts: Sequence[UtteranceRec], turns: Sequence[tuple[float, float, str]]) -> list[UtteranceRec]:
    """Each word gets the label whose turns overlap it most (else the nearest turn within 1 s); each
    utterance the label holding most of its words' time."""
    spans = sorted(turns)
    out = []
    for u in utts:
        words = tuple(replace(w, speaker=_label_at(w.start, w.end, spans)) for w in u.words)
        out.append(replace(u, words=words, speaker=_majority(words) or _label_at(u.start, u.end, spans)))
    return out


def _label_at(start: float, end: float, spans: Sequence[tuple[float, float, str]]) -> str | None:
    overlap: dict[str, float] = {}
    best, gap = None, 1.0
    for a, b, label in spans:
        ov = min(b, end) - max(a, start)
        if ov > 0:
            overlap[label] = overlap.get(label, 0.0) + ov
        elif not overlap:
            d = max(a - end, start - b)
            if d < gap:
                best, gap = label, d
    return max(overlap, key=overlap.__getitem__) if overlap else best


def _majority(words: Sequence[WordRec]) -> str | None:
    share: dict[str, float] = {}
    for w in words:
        if w.speaker:
            share[w.speaker] = share.get(w.speaker, 0.0) + max(w.end - w.start, 0.01)
    return max(share, key=share.__getitem__) if share else None


# -- the pipeline's stage ----------------------------------------------------------------------------------
class SpeakerStage:
    """Collects turns chunk by chunk, then resolves them to speaker entities of the collection."""

    def __init__(self, diarizer: Diarizer, cfg: DiarizeConfig) -> None:
        self.diarizer, self.cfg = diarizer, cfg
        self.turns: list[tuple[int, Turn]] = []  # (chunk index, turn)
        self.seconds = 0.0
        self._chunks = 0

    def feed(self, chunk: AudioChunk) -> None:
        t0 = time.perf_counter()
        self.turns.extend((self._chunks, t) for t in self.diarizer.diarize(chunk))
        self._chunks += 1
        self.seconds += time.perf_counter() - t0

    def label(self, store: Store, video_id: str, utts: Sequence[UtteranceRec]) -> tuple[list[UtteranceRec], str]:
        """Write the video's speaker turns (replacing earlier ones) and label the words; returns detail."""
        from memindex.ingest.commit import record_stage

        t0 = time.perf_counter()
        groups, before = self.speakers()
        with store.write() as txn:
            labelled, detail = match_speakers(txn.session, video_id, groups, before, self.cfg.speaker_threshold)
            record_stage(
                txn, video_id, "speakers", "done", self.diarizer.name, detail, self.seconds + time.perf_counter() - t0
            )
        return assign_words(utts, labelled), detail

    def speakers(self) -> tuple[list[tuple[list[Turn], np.ndarray]], int]:
        """The video's speakers as (turns, centroid), largest first, and how many clusters they were before
        clusters of one voice were merged."""
        joined = _video_clusters(self.turns, self.cfg.speaker_threshold)
        merged = merge_clusters(
            [members for members, _ in joined],
            self.cfg.merge_threshold,
            self.cfg.min_video_speaker,
            self.cfg.speaker_threshold,
        )
        return merged, len(joined)


def match_speakers(
    session: Any, video_id: str, groups: Sequence[tuple[list[Turn], np.ndarray]], clusters: int, threshold: float
) -> tuple[list[tuple[float, float, str]], str]:
    """Beside the store, in the caller's transaction: replace the video's speaker turns, each voice joining
    the most similar speaker entity of the collection (or a new one). Returns the labelled turns and the
    stage detail (``clusters``: how many there were before merging)."""
    session.execute(
        delete(EntityMention).where(EntityMention.video_id == video_id, EntityMention.source == "diarization")
    )
    prune_orphans(session)
    ids = _match_entities(session, groups, threshold)
    labelled: list[tuple[float, float, str]] = []
    for (members, _), eid in zip(groups, ids, strict=True):
        for turn in members:
            session.add(
                EntityMention(
                    entity_id=eid,
                    video_id=video_id,
                    start=turn.start,
                    end=turn.end,
                    source="diarization",
                    confidence=1.0,
                    embedding=turn.embedding.tobytes(),
                )
            )
            labelled.append((turn.start, turn.end, speaker_label(eid)))
    detail = f"{len(groups)} speakers, {len(labelled)} turns"
    if clusters != len(groups):
        detail += f" ({clusters} clusters before merging)"
    return labelled, detail


def _video_clusters(turns: Sequence[tuple[int, Turn]], threshold: float) -> list[tuple[list[Turn], np.ndarray]]:
    """Chunk clusters joined across chunks (largest first) when their centroids agree; two clusters of one
    chunk were kept apart by the clustering and are never joined here."""
    local: dict[tuple[int, int], list[Turn]] = {}
    for chunk, t in turns:
        local.setdefault((chunk, t.cluster), []).append(t)
    ordered = sorted(local.items(), key=lambda kv: -sum(t.end - t.start for t in kv[1]))
    groups: list[tuple[list[Turn], np.ndarray, set[int]]] = []
    for (chunk, _), members in ordered:
        c = _centroid(members)
        free = [g for g in range(len(groups)) if chunk not in groups[g][2]]
        best = max(free, key=lambda g: float(groups[g][1] @ c), default=None)
        if best is not None and float(groups[best][1] @ c) >= threshold:
            merged = groups[best][0] + members
            groups[best] = (merged, _centroid(merged), groups[best][2] | {chunk})
        else:
            groups.append((members, c, {chunk}))
    return [(sorted(m, key=lambda t: t.start), c) for m, c, _ in groups]


def merge_clusters(
    groups: Sequence[Sequence[Turn]], threshold: float, min_seconds: float, floor: float
) -> list[tuple[list[Turn], np.ndarray]]:
    """One voice split into several clusters (a long reading, speech over music) becomes one speaker:
    agglomerative merging on duration-weighted centroids (the most similar pair joins while its cosine is at
    least ``threshold``, centroids recomputed), then each cluster with under ``min_seconds`` of speech, shortest
    first, joins its most similar cluster when that one is at least ``floor`` similar (a short voice unlike
    every other stays). Returns (turns in time order, centroid), largest first."""
    members = [list(g) for g in groups if g]
    _join_close(members, threshold)
    _absorb_short(members, min_seconds, floor)
    members.sort(key=lambda m: -_seconds(m))
    return [(sorted(m, key=lambda t: t.start), _centroid(m)) for m in members]


def _join_close(members: list[list[Turn]], threshold: float) -> None:
    while len(members) > 1:
        sims = _similarities(members)
        i, j = sorted(np.unravel_index(int(np.argmax(sims)), sims.shape))
        if sims[i, j] < threshold:
            return
        members[i].extend(members.pop(j))


def _absorb_short(members: list[list[Turn]], min_seconds: float, floor: float) -> None:
    while len(members) > 1:
        sims, secs = _similarities(members), [_seconds(m) for m in members]
        short = [k for k in sorted(range(len(members)), key=secs.__getitem__) if secs[k] < min_seconds]
        k = next((k for k in short if sims[k].max() >= floor), None)
        if k is None:
            return
        target = members[int(np.argmax(sims[k]))]
        target.extend(members.pop(k))


def _similarities(members: Sequence[Sequence[Turn]]) -> np.ndarray:
    """Centroid cosine of every pair of clusters; -inf on the diagonal."""
    cents = np.stack([_centroid(m) for m in members]).astype(np.float64)
    sims = cents @ cents.T
    np.fill_diagonal(sims, -np.inf)
    return sims


def _seconds(turns: Sequence[Turn]) -> float:
    return float(sum(t.end - t.start for t in turns))


def _centroid(turns: Sequence[Turn]) -> np.ndarray:
    return _unit(np.sum([t.embedding * max(t.end - t.start, 1e-3) for t in turns], axis=0))


def _match_entities(s: Any, groups: Sequence[tuple[list[Turn], np.ndarray]], threshold: float) -> list[int]:
    """One speaker entity per group: the most similar existing one (merge tombstones lead to their target),
    each used once per video, else a new one. Matched centroids absorb the new evidence."""
    known = [
        (e, np.frombuffer(e.centroid, np.float32))
        for e in s.scalars(select(Entity).where(Entity.kind == "speaker", Entity.centroid.is_not(None)))
    ]
    pairs = sorted(
        ((float(vec @ c), g, e) for g, (_, c) in enumerate(groups) for e, vec in known if len(vec) == len(c)),
        key=lambda p: -p[0],
    )
    chosen: dict[int, Entity] = {}
    used: set[int] = set()
    for sim, g, e in pairs:
        target = live_entity(s, e)
        if sim < threshold or g in chosen or target.id in used:
            continue
        chosen[g] = target
        used.add(target.id)
    out = []
    for g, (members, c) in enumerate(groups):
        secs = sum(t.end - t.start for t in members)
        ent = chosen.get(g)
        if ent is None:
            ent = Entity(kind="speaker", name="speaker", key="", user_named=False, centroid=c.tobytes(), weight=secs)
            s.add(ent)
            s.flush()
            ent.name = f"Speaker {ent.id}"
            ent.key = normalize(ent.name)
        else:
            old = np.frombuffer(ent.centroid, np.float32) if ent.centroid else c
            ent.centroid = _unit(old * ent.weight + c * secs).tobytes()
            ent.weight += secs
        out.append(ent.id)
    return out

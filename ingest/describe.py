"""Each segment's own text: captions, transcript and screen text inside it, and a summary.

Summaries go bottom-up (event from its shots, chapter from its events, video from its chapters) through an
OpenAI-compatible LLM when one is configured; otherwise (and whenever the endpoint fails) an extractive summary
of the segment's own text: its key phrases and key sentences by TF-IDF, so the levels are useful offline."""

from __future__ import annotations

import bisect
import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Protocol

from memindex.errors import ConfigError
from memindex.ingest.hierarchy import Levels, Span
from memindex.llm import ChatClient, LLMConfig, LLMError

if TYPE_CHECKING:
    from memindex.ingest.store_records import VideoRows

__all__ = [
    "SummaryConfig",
    "SegmentText",
    "Summariser",
    "ExtractiveSummariser",
    "LLMSummariser",
    "make_summariser",
    "describe",
    "extractive_summary",
]

log = logging.getLogger(__name__)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_STOP = frozenset(
    """a an and are as at be been but by can could did do does for from had has have he her his i
if in into is it its me my no not of on or our she so than that the their them then there these they this to
up was we were what when which who will with would you your all any just also more much very one out about
over s t ll re ve d m""".split()
)
SENTENCES = {"shot": 1, "event": 2, "chapter": 4, "video": 6}


@dataclass(frozen=True)
class SummaryConfig:
    """``summariser``: ``auto`` (the LLM when ``llm`` is set, else extractive), ``extractive``, ``llm``
    (required: fails without ``llm``) or ``none``. ``llm``: the endpoint (the CLI and server set it from
    ``MEMINDEX_LLM_*``; its key is never saved)."""

    summariser: str = "auto"
    phrases: int = 6
    max_input_chars: int = 6000
    max_tokens: int = 220
    llm: LLMConfig | None = None


@dataclass
class SegmentText:
    caption: str = ""
    transcript: str = ""
    ocr: str = ""
    summary: str = ""

    def doc_text(self) -> str:
        """The searchable text: the summary leads (embedders truncate), then the raw texts for keywords."""
        parts = [
            self.summary,
            f"Seen: {self.caption}" if self.caption else "",
            f"Said: {self.transcript}" if self.transcript else "",
            f"On screen: {self.ocr}" if self.ocr else "",
        ]
        return "\n".join(p for p in parts if p)


class Summariser(Protocol):
    name: str

    def summarise(self, level: str, own: SegmentText, children: Sequence[SegmentText]) -> str: ...


class ExtractiveSummariser:
    """Key phrases and key sentences of the segment's own text; ``idf`` comes from the whole video."""

    name = "extractive"

    def __init__(self, phrases: int = 6) -> None:
        self.phrases = phrases
        self.idf: dict[str, float] = {}

    def fit(self, documents: Sequence[str]) -> None:
        df = Counter(t for doc in documents for t in set(_terms(doc)))
        n = max(1, len(documents))
        self.idf = {t: math.log((1 + n) / (1 + c)) + 1.0 for t, c in df.items()}

    def summarise(self, level: str, own: SegmentText, children: Sequence[SegmentText]) -> str:
        text = " ".join(p for p in (own.caption, own.transcript, own.ocr) if p)
        return extractive_summary(text, SENTENCES.get(level, 3), self.phrases, self.idf)


class LLMSummariser:
    """Summaries by an OpenAI-compatible chat endpoint from the children's summaries (or, for an event, its
    shots' texts). After one failure it stops asking for the rest of the build and falls back to extractive."""

    def __init__(
        self, cfg: LLMConfig, fallback: ExtractiveSummariser, *, max_input_chars: int = 6000, max_tokens: int = 220
    ) -> None:
        self.client = ChatClient(cfg)
        self.name = f"llm:{cfg.model}"
        self.fallback = fallback
        self.max_input_chars = max_input_chars
        self.max_tokens = max_tokens
        self.failed: str | None = None
        self.prompt = resources.files("memindex.ingest").joinpath("prompts/summarise.txt").read_text("utf-8")

    def summarise(self, level: str, own: SegmentText, children: Sequence[SegmentText]) -> str:
        if self.failed is None:
            parts = [c.summary or c.doc_text() for c in children] or [own.doc_text()]
            body = "\n".join(f"- {p}" for p in parts if p)[: self.max_input_chars]
            if not body.strip():
                return ""
            prompt = self.prompt.format(level=level, parts=body)
            try:
                reply = self.client.chat([{"role": "user", "content": prompt}], max_tokens=self.max_tokens)
                if reply.content.strip():
                    return reply.content.strip()
                self.failed = "empty reply"
            except LLMError as exc:
                self.failed = str(exc)
                log.warning("LLM summaries stopped (%s); extractive summaries for the rest", exc)
        return self.fallback.summarise(level, own, children)

    def close(self) -> None:
        self.client.close()


def make_summariser(cfg: SummaryConfig) -> Summariser | None:
    """The configured summariser; None for ``none``."""
    extractive = ExtractiveSummariser(cfg.phrases)
    if cfg.summariser == "none":
        return None
    if cfg.summariser == "extractive":
        return extractive
    if cfg.summariser not in ("auto", "llm"):
        raise ConfigError(f"unknown summariser {cfg.summariser!r}; valid names: auto, extractive, llm, none")
    if cfg.llm is None:
        if cfg.summariser == "llm":
            raise ConfigError(
                "summariser 'llm' needs an endpoint: SummaryConfig(llm=LLMConfig(base_url=..., model=...)) "
                "(the CLI: MEMINDEX_LLM_BASE_URL and MEMINDEX_LLM_MODEL)"
            )
        return extractive
    return LLMSummariser(cfg.llm, extractive, max_input_chars=cfg.max_input_chars, max_tokens=cfg.max_tokens)


def describe(rows: VideoRows, levels: Levels, summariser: Summariser | None) -> dict[str, list[SegmentText]]:
    """Texts of every segment, level by level from the shots up; summaries bottom-up."""
    spans = _SpanText(rows)
    out: dict[str, list[SegmentText]] = {"shot": [spans.text(s) for s in levels.shots]}
    for i, seg in enumerate(rows.shots[: len(levels.shots)]):
        if seg.keyframe_id is not None:
            out["shot"][i].caption = rows.captions.get(seg.keyframe_id, "")
    ext = summariser.fallback if isinstance(summariser, LLMSummariser) else summariser
    if isinstance(ext, ExtractiveSummariser):
        ext.fit(
            [t for u in rows.utterances for t in _SENTENCE.split(u.text)]
            + [ln.text for ln in rows.ocr]
            + list(rows.captions.values())
        )
    groups = {
        "event": (levels.events, [levels.event_span(k) for k in range(len(levels.events))], "shot"),
        "chapter": (levels.chapters, [levels.chapter_span(k) for k in range(len(levels.chapters))], "event"),
        "video": ([(0, len(levels.chapters))], [levels.video], "chapter"),
    }
    for level, (ranges, level_spans, child) in groups.items():
        texts = []
        for (i, j), span in zip(ranges, level_spans, strict=True):
            kids = out[child][i:j]
            own = spans.text(span)
            own.caption = _clip(_join_unique([k.caption for k in kids], "; "), 2000)
            if summariser is not None:
                own.summary = summariser.summarise(level, own, kids)
            texts.append(own)
        out[level] = texts
    return out


class _SpanText:
    """Transcript (words whose midpoint lies in the span) and screen text (lines overlapping it)."""

    def __init__(self, rows: VideoRows) -> None:
        self.words = sorted(((w.start + w.end) / 2, w.text) for w in rows.words)
        worded = {w.utterance_id for w in rows.words}
        self.words += [((u.start + u.end) / 2, u.text) for u in rows.utterances if u.id not in worded]
        self.words.sort()
        self.mids = [m for m, _ in self.words]
        self.ocr = [(ln.start, ln.end, ln.text) for ln in rows.ocr]

    def text(self, span: Span) -> SegmentText:
        lo = bisect.bisect_left(self.mids, span.start)
        hi = bisect.bisect_left(self.mids, span.end)
        said = " ".join(t for _, t in self.words[lo:hi])
        seen = _join_unique([t for s, e, t in self.ocr if s < span.end and e > span.start], " | ")
        return SegmentText(transcript=said, ocr=seen)


def _join_unique(parts: Sequence[str], sep: str) -> str:
    seen: dict[str, None] = {}
    for p in parts:
        p = p.strip()
        if p and p.lower() not in {k.lower() for k in seen}:
            seen[p] = None
    return sep.join(seen)


def _terms(text: str) -> list[str]:
    return [w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOP and len(w) > 1]


def extractive_summary(text: str, sentences: int, phrases: int, idf: dict[str, float] | None = None) -> str:
    """``Key phrases: a, b, c.`` followed by the ``sentences`` highest-scoring sentences in their order."""
    idf = idf or {}
    sents = [s.strip() for s in _SENTENCE.split(text) if s.strip()]
    tf = Counter(_terms(text))
    if not tf:
        return ""
    weight = {t: c * idf.get(t, 1.0) for t, c in tf.items()}
    key = _key_phrases(text, weight, phrases)
    scored = []
    for i, s in enumerate(sents):
        terms = _terms(s)
        if terms:
            scored.append((sum(weight[t] for t in set(terms)) / math.sqrt(len(terms)), i))
    keep = sorted(i for _, i in sorted(scored, reverse=True)[:sentences])
    body = " ".join(_clip(sents[i], 300) for i in keep)
    return (f"Key phrases: {', '.join(key)}. " if key else "") + body


def _key_phrases(text: str, weight: dict[str, float], n: int) -> list[str]:
    """Top terms by TF-IDF, with a term replaced by a two-word phrase when the phrase recurs."""
    words = [m.lower() for m in _WORD.findall(text)]
    bigrams = Counter(
        (a, b)
        for a, b in zip(words, words[1:], strict=False)
        if a not in _STOP and b not in _STOP and len(a) > 1 and len(b) > 1
    )
    scored = {f"{a} {b}": (weight.get(a, 0) + weight.get(b, 0)) * 0.75 for (a, b), c in bigrams.items() if c > 1}
    scored.update(weight)
    out: list[str] = []
    for term, _ in sorted(scored.items(), key=lambda kv: (-kv[1], kv[0])):
        if not any(term in o or o in term for o in out):
            out.append(term)
        if len(out) == n:
            break
    return out


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1].rsplit(" ", 1)[0] + "…"

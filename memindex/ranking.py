"""How search scores a candidate and how sure it is of a hit.

Fusion (text tiers): ``0.5 * cosine + 0.3 * coverage + 0.2 * phrase`` for keyword and quote queries. For a
question ("When does someone say ...?") the words that only say how to look (say, someone, mention, ...) are
dropped from the lexical terms, coverage counts squared (a stray shared word is weak evidence), the in-order
phrase signal counts 0.1 (0.2 more for a quoted span), and short screen-text lines count 0.7 unless the
question asks about the screen: the dense channel dominates. Weights fit on the tuning split of
benchmarks/eval/retrieval.jsonl; benchmarks/README.md has the comparison (score vs reciprocal-rank fusion).

Confidence: a logistic map from a hit's score and its margin over the best rival moment, fit on the same
tuning split plus questions the store cannot answer (``python benchmarks/retrieval.py --fit-confidence``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "QueryShape",
    "shape",
    "fuse",
    "QUESTION_SCREEN_FACTOR",
    "terms",
    "fold",
    "coverage",
    "phrase_match",
    "norm_word",
    "spellings",
    "confidence",
    "CONFIDENCE_FEATURES",
]

WORD = re.compile(r"[\w']+", re.UNICODE)
_STOP = frozenset(
    "a an the and or of to in on at for by with is are was were be been it this that these those i you he "
    "she we they my your his her our their what which who whom when where why how do does did not no so as "
    "from up out if then than there here can will would should could me him them us".split()
)
# Words of a question that say how to look, not what to find (kept for keyword queries and quotes).
_SCAFFOLD = frozenset(
    "say said says saying speak speaks spoke spoken speaker someone somebody anyone mention mentions mentioned "
    "talk talks talking line lines read reads hear heard word words phrase quote quoted moment time times "
    "happen happens appear appears shown show shows video clip part scene voice does exactly reader narrator "
    "person man woman caller callers about explain explains explained describe describes described discuss "
    "discusses discussed told tell tells given give gives asked listener recording".split()
)
_SCREEN_CUES = frozenset("screen on-screen title titles credit credits credited written caption sign shown".split())
_QUESTION = re.compile(r"^\s*(when|where|who|whom|whose|what|which|why|how|is|are|was|were|does|do|did|can)\b", re.I)
_QUOTE = re.compile(r"(?:^|(?<=\W))[\"“‘'](.{3,}?)[\"”’'](?=\W|$)")
_NUMBERS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}


def fold(text: str) -> str:
    """Lower case without accents, so 'Café' and 'cafe' compare equal (as the keyword index folds them)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=1 << 16)
def norm_word(word: str) -> str:
    """A word as matching sees it: folded, unpunctuated, number words as digits (ASR writes 'one' or '1').
    Cached: fusion normalises every word of every candidate, and most words recur."""
    w = fold(word).strip(" .,;:!?\"'-")
    return _NUMBERS.get(w, w)


def spellings(word: str) -> list[str]:
    """The word and its other number spelling ('one' -> ['one', '1'], '7' -> ['7', 'seven'])."""
    w = word.lower()
    if w in _NUMBERS:
        return [w, _NUMBERS[w]]
    other = next((name for name, digit in _NUMBERS.items() if digit == w), None)
    return [w, other] if other else [w]


def terms(query: str) -> list[str]:
    """Content words of a query (lower case, stop words dropped unless nothing else is left)."""
    words = [w.lower().strip("'") for w in WORD.findall(query)]
    content = [w for w in words if w and w not in _STOP]
    return content or [w for w in words if w]


def _words(text: str) -> list[str]:
    return [w for w in (norm_word(w) for w in WORD.findall(text)) if w]


@dataclass(frozen=True)
class QueryShape:
    """What fusion needs to know about a query, computed once per search."""

    question: bool  # phrased as a question: the dense channel dominates
    terms: tuple[str, ...]  # lexical terms for coverage
    words: tuple[str, ...]  # every word, in order, for the phrase signal
    quotes: tuple[tuple[str, ...], ...]  # quoted spans inside a question
    screen_cue: bool  # the query asks about on-screen text


def shape(query: str) -> QueryShape:
    question = bool(_QUESTION.match(query)) or query.rstrip().endswith("?")
    content = terms(query)
    lexical = [t for t in content if t not in _SCAFFOLD] if question else content
    quotes = tuple(tuple(_words(q)) for q in _QUOTE.findall(query)) if question else ()
    return QueryShape(
        question=question,
        terms=tuple(lexical or content),
        words=tuple(_words(query)),
        quotes=tuple(q for q in quotes if q),
        screen_cue=bool(set(content) & _SCREEN_CUES),
    )


QUESTION_SCREEN_FACTOR = 0.7  # short OCR lines (names, credits) resemble any question: weaker unless asked for


def fuse(q: QueryShape, tier: str, cosine: float, text: str) -> tuple[float, dict[str, float]]:
    """Score of one text-tier candidate and the signals behind it."""
    doc = _words(text)  # the candidate's words, normalised once for every signal
    cover = _coverage(list(q.terms), doc)
    phrase = _phrase(list(q.words), doc)
    signals = {"cosine": round(cosine, 4), "coverage": round(cover, 3), "phrase": round(phrase, 3)}
    if not q.question:
        return 0.5 * cosine + 0.3 * cover + 0.2 * phrase, signals
    quoted = max((_phrase(list(words), doc) for words in q.quotes), default=0.0)
    score = 0.5 * cosine + 0.2 * cover**2 + 0.1 * phrase + 0.2 * quoted
    if tier == "screen" and not q.screen_cue:
        score *= QUESTION_SCREEN_FACTOR
    return score, signals


def coverage(qterms: list[str], doc_text: str) -> float:
    """Share of the query's content words found in the text (prefix match, so 'movies' finds 'movie';
    accents ignored, so 'cafe' finds 'café'; 'one' finds '1')."""
    return _coverage(qterms, _words(doc_text)) if qterms else 0.0


def _coverage(qterms: list[str], doc: list[str]) -> float:
    if not qterms:
        return 0.0
    words = {w.strip("'") for w in doc}
    found = sum(1 for t in map(norm_word, qterms) if t in words or any(_close(t, w) for w in words))
    return found / len(qterms)


def phrase_match(query_words: list[str], doc_text: str) -> float:
    """Share of the query's words (stop words included) found in the text in the query's order."""
    return _phrase(query_words, _words(doc_text)) if len(query_words) >= 2 else 0.0


def _phrase(query_words: list[str], doc: list[str]) -> float:
    if len(query_words) < 2:
        return 0.0
    matched, pos = 0, 0
    for q in map(norm_word, query_words):
        found = next((j for j in range(pos, len(doc)) if doc[j] == q or _close(doc[j], q)), None)
        if found is not None:
            matched, pos = matched + 1, found + 1
    return matched / len(query_words)


def close(a: str, b: str) -> bool:
    """Two words of one stem by a cheap test: same first four letters, lengths within two."""
    if len(a) < 4 or len(b) < 4:
        return False
    return a.startswith(b[:4]) and b.startswith(a[:4]) and abs(len(a) - len(b)) <= 2


_close = close

# Hit.confidence = sigmoid(w . features + b). Fit by `python benchmarks/retrieval.py --store S --fit-confidence`
# (L2-regularised logistic regression; samples: every top-5 search hit of the tuning split of
# benchmarks/eval/*.jsonl, label 1 when it overlaps the question's moment, 0 always for the questions the
# store cannot answer). Store: bbb.mp4 + bbb_narrated.mp4 + prompts_narrated.mp4, default models.
CONFIDENCE_FEATURES = ("score", "margin")
_CONF_WEIGHTS = (11.965, 3.688)
_CONF_BIAS = -3.08


def confidence(score: float, margin: float) -> float:
    """Calibrated probability that a hit is the moment asked for (``margin``: score minus the best rival's)."""
    z = _CONF_BIAS + _CONF_WEIGHTS[0] * score + _CONF_WEIGHTS[1] * margin
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

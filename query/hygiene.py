"""Answer text from what was actually said or shown. Segment descriptions of the episodic tier carry
scaffolding (a summary led by ``Key phrases:``, then ``Seen:`` / ``Said:`` / ``On screen:`` sections) that
is for the search engine, never for an answer: these helpers take the spoken and on-screen text out of any
evidence, pick the part of it that holds the question's terms, and scrub stray labels from model text."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memindex.query.tools import Evidence

__all__ = ["sections", "spoken_text", "snippet", "scrub", "matches", "INTERNAL"]

_LABELS = (("Seen: ", "seen"), ("Said: ", "said"), ("On screen: ", "screen"))
# Any of these in an answer is a leak of how segments and entities are described internally.
INTERNAL = re.compile(
    r"Key phrases:|(?:^|[\s(\[])(?:Seen|Said|On screen):\s|no speech, screen text or caption"
    r"|mentioned \d+ times in this video|speaks in \d+ turns|Context: [{\[]|\(spk\d+\)",
    re.M,
)
_WORD = re.compile(r"\S+")
_FINE_TIERS = ("speech", "screen")
_CONTEXT = re.compile(r"\bContext: (.+)$", re.S)


def norm(w: str) -> str:
    return w.lower().strip(" .,;:!?\"'-")


def matches(word: str, term: str) -> bool:
    """Exact, or the same stem for words of 4+ letters (movie/movies, press/pressing is not)."""
    a, b = norm(word), term.lower()
    if a == b:
        return True
    return len(a) >= 4 and len(b) >= 4 and a[:4] == b[:4] and abs(len(a) - len(b)) <= 2


def sections(text: str) -> dict[str, str]:
    """A segment description split into ``summary``, ``seen``, ``said`` and ``screen`` (missing ones empty)."""
    out = {"summary": [], "seen": [], "said": [], "screen": []}  # type: dict[str, list[str]]
    part = "summary"
    for line in text.splitlines():
        for label, name in _LABELS:
            if line.startswith(label):
                part, line = name, line[len(label) :]
                break
        out[part].append(line.strip())
    return {k: " ".join(p for p in v if p) for k, v in out.items()}


def spoken_text(e: Evidence, terms: Sequence[str] = (), words: int = 0) -> str:
    """What ``e`` says or shows: its own text for speech and screen rows and tool reads; the ``Said:`` and
    ``On screen:`` parts of a segment (the caption only when there is nothing else); the quoted context of an
    entity description. With ``words``, only the window of that many words holding the most ``terms``."""
    if e.tier in _FINE_TIERS or e.source in ("transcript", "screen_text", "entity"):
        text = e.text.strip()
    elif e.tier == "visual" or not e.text.strip():
        text = ""
    elif e.tier == "semantic":  # "Name X: mentioned 2 times ... Context: what was said | ..."
        m = _CONTEXT.search(e.text)
        text = m.group(1).strip() if m and not m.group(1).lstrip().startswith(("{", "[")) else ""
    else:
        sec = sections(e.text)
        parts = [p for p in (sec["said"], sec["screen"]) if p]
        text = " / ".join(parts) if parts else sec["seen"]
    return snippet(text, terms, words) if words else text


def snippet(text: str, terms: Sequence[str], words: int = 24) -> str:
    """The window of ``words`` words with the most distinct ``terms`` (earliest on ties), with ellipses."""
    toks = _WORD.findall(text)
    if len(toks) <= words:
        return text
    hits = [{t for t in terms if matches(w, t)} for w in toks]
    best, best_n = 0, -1
    for i in range(0, len(toks) - words + 1):
        n = len(set().union(*hits[i : i + words]))
        if n > best_n:
            best, best_n = i, n
    body = " ".join(toks[best : best + words])
    return ("… " if best > 0 else "") + body + (" …" if best + words < len(toks) else "")


def scrub(text: str) -> str:
    """Model text without the internal labels (``Key phrases: a, b.`` dropped whole; section labels cut)."""
    text = re.sub(r"Key phrases:[^.\n]*\.?\s*", "", text)
    text = re.sub(r"(^|[\s(\[])(?:Seen|Said|On screen):\s", r"\1", text, flags=re.M)
    return re.sub(r"[ \t]{2,}", " ", text).strip()

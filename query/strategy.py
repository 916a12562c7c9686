"""The deterministic policy: one small strategy (a generator of tool calls) per temporal relation.

locate   search coarse+fine levels → descend into the best coarse segment → inspect the words around it
range    search inside the time range, or read it when the question names nothing to find
after/before  find the anchor → read the catalog right after/before it (or search the target there)
first/last    search, keep the candidates that match as well as the best, take the earliest/latest
count    search wide, count exact occurrences in the matching moments
span     find both moments, answer the time between them
A strategy stops on its own when the evidence is sufficient; the loop stops it when the budget is spent."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from memindex.query.agent import Action
from memindex.query.compose import Draft, cite, hms, quote
from memindex.query.plan import key_terms
from memindex.query.resolve import count_occurrences, neighbour_words, read_spans, tighten, timeline
from memindex.query.tools import Evidence

if TYPE_CHECKING:
    from memindex.query.agent import State

__all__ = ["RulePolicy"]

Strategy = Iterator[Action]


class RulePolicy:
    calls = 0

    def __init__(self, state: State) -> None:
        relation = state.plan.relation
        self._gen = _STRATEGIES.get(relation, _locate)(state)

    def next(self, state: State) -> Action | None:
        return next(self._gen, None)

    def finish(self, state: State) -> Iterator[dict]:
        return iter(())

    def answer_text(self, state: State) -> str | None:
        return None


def _search(state: State, query: str, *, k: int = 10, tiers=None, levels=None, videos=None, time_range=None) -> Action:
    p = state.plan
    args = {"query": query, "tiers": list(tiers or p.tiers), "k": k}
    lv = list(levels) if levels is not None else [*p.coarse, *p.fine]
    if lv:
        args["levels"] = lv
    vids = videos or p.videos
    if vids:
        args["videos"] = list(vids)
    tr = time_range or p.range
    if tr:
        args["time_range"] = [tr[0], tr[1] if math.isfinite(tr[1]) else None]
    return Action("search", args)


def _best(state: State) -> Evidence | None:
    items = state.last.items if state.last else []
    return max(items, key=lambda e: e.score) if items else None


def _locate(state: State) -> Strategy:
    p = state.plan
    yield _search(state, p.query or p.question)
    top = state.ranked()[0] if state.pool else None
    if top is None or state.verdict.sufficient:
        return
    if top.level in p.coarse or top.duration > 30:  # descend into the best coarse segment
        yield _search(state, p.query, levels=p.fine, videos=[top.video_id], time_range=(top.start, top.end))
        if state.verdict.sufficient:
            return
        top = state.ranked()[0]
    if top.modality in ("speech", "screen_text"):  # inspect: confirm the words in the catalog
        tool = "transcript" if top.modality == "speech" else "screen_text"
        yield Action(tool, {"video": top.video_id, "start": max(0.0, top.start - 5), "end": top.end + 5})
        if state.verdict.sufficient:
            return
    if len(p.tiers) == 1 and len(state.catalog.tiers) > 1:  # the cue was wrong? widen the tiers once
        wide = [t for t in ("speech", "screen", "visual") if state.catalog.has(t)]
        yield _search(state, p.query or p.question, tiers=wide)


def _range(state: State) -> Strategy:
    p = state.plan
    if p.terms:
        yield from _locate(state)
        return
    assert p.range is not None
    found: list[Evidence] = []
    for vid in p.videos or state.catalog.videos[:3]:
        end = p.range[1] if math.isfinite(p.range[1]) else None
        for tool in _read_tools(p.modality):
            yield Action(tool, {"video": vid, "start": p.range[0], "end": end})
            found += [e for e in state.last.items if e.start >= p.range[0] - 1 and (end is None or e.start <= end)]
            _range_draft(state, found)  # after every read: the budget may stop the strategy here


def _range_draft(state: State, found: list[Evidence]) -> None:
    found.sort(key=lambda e: (e.video_id, e.start))
    state.resolved = found[:10]
    used = [e for e in found if e.text.strip()][:5]
    text = " / ".join(f"{quote(e)} [{cite(e)}]" for e in used)
    state.draft = Draft(text, used, missing="" if used else "nothing said or shown then")


def _read_tools(modality: str | None) -> tuple[str, ...]:
    return {"speech": ("transcript",), "screen": ("screen_text",)}.get(modality or "", ("transcript", "screen_text"))


def _relative(state: State) -> Strategy:
    p = state.plan
    after = p.relation == "after"
    wide = [t for t in ("speech", "screen", "visual") if state.catalog.has(t)]
    yield _search(state, p.query or p.question, tiers=wide)
    anchor = _best(state)
    if anchor is None:
        return
    if p.target_terms:  # a named target: search for it on the right side of the anchor
        tr = (anchor.end, math.inf) if after else (0.0, anchor.start)
        yield _search(state, " ".join(p.target_terms), videos=[anchor.video_id], time_range=tr)
        side = [
            e
            for e in state.last.items
            if (e.start >= anchor.end - 0.5 if after else e.end <= anchor.start + 0.5)
            and e.signals.get("coverage", 0.0) >= 0.99
        ]
        if side:
            top = min(side, key=lambda e: e.start - anchor.end if after else anchor.start - e.end)
            _resolve(state, top, anchor, target_found=True)
            return
    found: list[tuple[Evidence, Evidence]] = []
    lo, hi = (anchor.start - 1, anchor.end + 120) if after else (max(0.0, anchor.start - 120), anchor.end + 1)
    for tool in _read_tools(p.modality if p.modality else ("speech" if anchor.modality == "speech" else None)):
        yield Action(tool, {"video": anchor.video_id, "start": lo, "end": hi})
        tight = anchor
        if tool == "transcript":
            words = tuple(w for ph in p.phrases for w in ph.split()) or p.terms
            tight = tighten(anchor, state.last.raw, words)
            nxt = neighbour_words(state.last.raw, tight, after=after, uri=anchor.uri)
        else:
            nxt = timeline(state.last.items, anchor, after=after)
        if nxt is not None:
            found.append((nxt, tight))
            gap = (lambda f: abs(f[0].start - anchor.end)) if after else (lambda f: abs(anchor.start - f[0].end))
            _resolve(state, *min(found, key=gap))


def _resolve(state: State, target: Evidence, anchor: Evidence, target_found: bool = False) -> None:
    """The answer of after/before: the target's words, cited, and the anchor they follow (or precede)."""
    p = state.plan
    target.score = max(target.score, state.ranked()[0].score if state.pool else 0.0)
    state.resolved = [target, anchor]
    text = (
        f"{quote(target, p.target_terms)} [{cite(target)}], right {p.relation} "
        f"{quote(anchor, p.terms, 12)} [{cite(anchor)}]"
    )
    grounds = [(anchor, p.terms), *([(target, p.target_terms)] if target_found else [])]
    state.draft = Draft(text, [target, anchor], grounds=grounds)


def _first_last(state: State) -> Strategy:
    p = state.plan
    if p.terms:
        yield _search(state, p.query, k=50)
        items = state.last.items
        if not items:
            return
        best_cov = max(e.signals.get("coverage", 0.0) for e in items)
        top_score = max(e.score for e in items)
        _pick(
            state,
            [
                e
                for e in items
                if e.signals.get("coverage", 0.0) >= max(0.5, 0.99 * best_cov) and e.score >= 0.6 * top_score
            ]
            or items,
        )
        return
    good: list[Evidence] = []
    for vid in p.videos or state.catalog.videos[:3]:
        for tool in _read_tools(p.modality):
            yield Action(tool, {"video": vid})
            good += [e for e in state.last.items if e.text.strip()]
            _pick(state, good)  # after every read: the budget may stop the strategy here


def _pick(state: State, good: list[Evidence]) -> None:
    if good:
        rel = state.plan.relation
        _resolve_single(state, (min if rel == "first" else max)(good, key=lambda e: e.start), f"the {rel} time")


def _resolve_single(state: State, pick: Evidence, label: str) -> None:
    pick.score = max(pick.score, state.ranked()[0].score if state.pool else 0.0)
    state.resolved = [pick]
    state.draft = Draft(f"{label}: {quote(pick, state.plan.terms)} [{cite(pick)}]", [pick])


_MAX_CITED = 20


def _count(state: State) -> Strategy:
    """Search the fine tiers wide, then read the transcript where anything matched (segments included) and
    count the words themselves: each mention once, at its word, however many levels matched it."""
    p = state.plan
    tiers = [t for t in p.tiers if t in ("speech", "screen")] or ["speech", "screen"]
    yield _search(state, p.query or p.question, k=100, tiers=tiers)
    items = list(state.last.items)
    words: dict[str, list[dict]] = {}
    _count_draft(state, items, words)
    if "speech" not in tiers:
        return
    for vid, (lo, hi) in read_spans(items, p.terms).items():
        yield Action("transcript", {"video": vid, "start": lo, "end": hi})
        words[vid] = list(state.last.raw)
        _count_draft(state, items, words, uri=state.last.items[0].uri if state.last.items else "")


def _count_draft(state: State, items: list[Evidence], words: dict[str, list[dict]], uri: str = "") -> None:
    n, moments = count_occurrences(items, state.plan.terms, words, uris={e.video_id: e.uri for e in items})
    state.resolved = moments[:10]
    cited = moments[:_MAX_CITED]
    more = f" (the first {len(cited)} cited)" if len(moments) > len(cited) else ""
    text = f"{n} time{'s' if n != 1 else ''}{more}: " + ", ".join(f"[{cite(m)}]" for m in cited)
    state.draft = Draft(text, cited, missing="" if n else "no mention")


def _span(state: State) -> Strategy:
    p = state.plan
    wide = [t for t in ("speech", "screen", "visual") if state.catalog.has(t)]
    yield _search(state, p.query, tiers=wide)
    a = _best(state)
    yield _search(state, p.query2 or p.query, tiers=wide)
    b = _best(state)
    if a is None or b is None:
        return
    first, second = sorted((a, b), key=lambda e: e.start)
    state.resolved = [a, b] if a.key() != b.key() else [a]
    gap = second.start - first.start
    terms = {id(a): p.terms, id(b): key_terms(p.query2 or p.query)}
    text = (
        f"about {gap:.0f} seconds ({hms(gap)}) between {quote(first, terms[id(first)], 12)} "
        f"[{cite(first)}] and {quote(second, terms[id(second)], 12)} [{cite(second)}]"
    )
    state.draft = Draft(text, list(state.resolved), grounds=[(a, terms[id(a)]), (b, terms[id(b)])])


_STRATEGIES = {
    "locate": _locate,
    "range": _range,
    "after": _relative,
    "before": _relative,
    "first": _first_last,
    "last": _first_last,
    "count": _count,
    "span": _span,
}

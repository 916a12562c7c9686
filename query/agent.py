"""The retrieval agent: ONE generator loop (``Agent._loop``) that asks a policy for the next tool call, runs it,
merges the evidence, scores sufficiency and stops at the budget; ``ask`` drains it, ``stream`` yields its
steps as dicts. The policy is the deterministic planner (``query.strategy``) or an LLM (``query.llm_agent``)."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from memindex.errors import MemIndexError, QueryError
from memindex.search import coverage
from query.plan import Catalog, Plan, make_plan
from query.sufficiency import Verdict, judge
from query.tools import Evidence, Toolbox, ToolResult

__all__ = ["Agent", "Answer", "Budget", "Step", "State", "Action"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    """Tool calls, wall seconds and LLM tokens; any one spent stops the loop (then the agent answers)."""

    max_steps: int = 4
    max_seconds: float | None = None
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.max_steps, int) or self.max_steps < 1:
            raise QueryError(f"max_steps must be an integer >= 1, not {self.max_steps!r}")


@dataclass(frozen=True)
class Action:
    tool: str
    arguments: dict[str, Any]
    tokens: int = 0  # LLM tokens spent choosing this call


@dataclass
class Step:
    index: int
    tool: str
    arguments: dict[str, Any]
    count: int
    seconds: float
    tokens: int = 0
    error: str | None = None
    sufficiency: dict | None = None

    def to_dict(self) -> dict:
        out = {"type": "step", "index": self.index, "tool": self.tool, "arguments": self.arguments,
               "count": self.count, "seconds": round(self.seconds, 4), "tokens": self.tokens}
        if self.error:
            out["error"] = self.error
        if self.sufficiency:
            out["sufficiency"] = self.sufficiency
        return out


@dataclass
class Answer:
    answer: str
    confidence: float
    evidence: list[Evidence]
    trace: list[Step]
    cost: dict[str, Any]
    plan: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"answer": self.answer, "confidence": round(self.confidence, 3),
                "evidence": [e.to_dict() for e in self.evidence], "trace": [s.to_dict() for s in self.trace],
                "cost": self.cost}


@dataclass
class State:
    """What the loop knows: the plan, the evidence pool, what a temporal resolution chose, the cost."""

    plan: Plan
    budget: Budget
    catalog: Catalog
    pool: dict[tuple, Evidence] = field(default_factory=dict)
    trace: list[Step] = field(default_factory=list)
    last: ToolResult | None = None
    resolved: list[Evidence] = field(default_factory=list)
    answer_text: str | None = None
    resolved_confidence: float | None = None
    tokens: int = 0
    started: float = field(default_factory=time.perf_counter)
    verdict: Verdict = field(default_factory=Verdict)

    @property
    def steps(self) -> int:
        return len([s for s in self.trace if s.tool != "llm"])

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def spent(self) -> str | None:
        b = self.budget
        if self.steps >= b.max_steps:
            return "steps"
        if b.max_seconds is not None and self.elapsed() >= b.max_seconds:
            return "seconds"
        if b.max_tokens is not None and self.tokens >= b.max_tokens:
            return "tokens"
        return None

    def add(self, items: Sequence[Evidence]) -> None:
        for e in items:
            if e.source != "search" and e.score == 0.0 and e.text:
                e.score = 0.4 * coverage(list(self.plan.terms), e.text)  # reads: scored by the key terms
            if self.plan.phrases and e.text and "phrase" not in e.signals and any(
                    _flat(ph) in _flat(e.text) for ph in self.plan.phrases):
                e.score, e.signals["phrase"] = e.score + 0.1, True  # the quoted words, verbatim
            old = self.pool.get(e.key())
            if old is None or e.score > old.score:
                self.pool[e.key()] = e

    def ranked(self) -> list[Evidence]:
        chosen = {e.key() for e in self.resolved}
        rest = sorted((e for e in self.pool.values() if e.key() not in chosen),
                      key=lambda e: (-e.score, e.start))
        return [*self.resolved, *rest]


class Agent:
    """``Agent(index).ask(question)`` → ``Answer``; ``.stream(question)`` yields steps then the answer."""

    def __init__(self, index: Any) -> None:
        self.index = index
        self.tools = Toolbox(index)

    def ask(self, question: str, **options: Any) -> Answer:
        answer = None
        for event in self._loop(question, **options):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def stream(self, question: str, **options: Any) -> Iterator[dict]:
        for event in self._loop(question, **options):
            if isinstance(event, Answer):
                yield {"type": "answer", **event.to_dict()}
            elif isinstance(event, Step):
                yield event.to_dict()
            else:
                yield event

    def _loop(self, question: str, *, max_steps: int = 4, max_seconds: float | None = None,
              max_tokens: int | None = None, videos: Sequence[str] | None = None, llm: Any = None,
              budget: Budget | None = None) -> Iterator[Step | Answer | dict]:
        if not isinstance(question, str) or not question.strip():
            raise QueryError("the question is empty")
        budget = budget or Budget(max_steps, max_seconds, max_tokens)
        vids = [self.tools.video_id(v) for v in videos] if videos else None
        catalog = Catalog.of(self.index)
        state = State(make_plan(question, catalog, vids), budget, catalog)
        yield {"type": "plan", **state.plan.to_dict()}
        policy = self._policy(state, llm)
        while (reason := state.spent()) is None:
            action = policy.next(state)
            if action is None:
                break
            step = self._run(state, action)
            yield step
        else:
            log.info("budget spent (%s) after %d steps", reason, state.steps)
        yield from policy.finish(state)
        yield self._answer(state, policy)

    def _policy(self, state: State, llm: Any) -> Any:
        from query.strategy import RulePolicy

        if llm is None and os.environ.get("MEMINDEX_LLM_BASE_URL"):
            llm = "env"
        if llm in (None, False):
            return RulePolicy(state)
        from query.llm_agent import LLMPolicy

        return LLMPolicy(state, llm, fallback=RulePolicy)

    def _run(self, state: State, action: Action) -> Step:
        t0 = time.perf_counter()
        error = None
        try:
            result = self.tools.call(action.tool, dict(action.arguments))
        except MemIndexError as exc:
            error = f"{exc.code}: {exc}"
            result = ToolResult(action.tool, dict(action.arguments), [], note=error)
        state.last = result
        state.add(result.items)
        state.verdict = judge(state.plan.terms, state.ranked(), state.plan.phrases)
        step = Step(index=len(state.trace) + 1, tool=action.tool, arguments=result.arguments,
                    count=len(result.items), seconds=time.perf_counter() - t0, tokens=action.tokens, error=error,
                    sufficiency=state.verdict.to_dict())
        state.trace.append(step)
        return step

    def _answer(self, state: State, policy: Any) -> Answer:
        ranked = state.ranked()
        verdict = judge(state.plan.terms, ranked, state.plan.phrases) if ranked else state.verdict
        text = policy.answer_text(state) or state.answer_text or extractive(ranked)
        confidence = verdict.confidence if state.resolved_confidence is None else state.resolved_confidence
        cost = {"steps": state.steps, "seconds": round(state.elapsed(), 4), "tokens": state.tokens,
                "llm_calls": len([s for s in state.trace if s.tool == "llm"]) + getattr(policy, "calls", 0),
                "budget": {"max_steps": state.budget.max_steps, "max_seconds": state.budget.max_seconds,
                           "max_tokens": state.budget.max_tokens}, "stopped": _stopped(state)}
        return Answer(answer=text, confidence=round(confidence, 3), evidence=ranked[:10],
                      trace=state.trace, cost=cost, plan=state.plan.to_dict())


def _stopped(state: State) -> str:
    spent = state.spent()
    if spent:
        return f"budget ({spent})"
    return "sufficient" if state.verdict.sufficient or state.resolved else "no further step"


def _flat(text: str) -> str:
    return " ".join(re.findall(r"[\w']+", text.lower()))


def hms(t: float) -> str:
    m, s = divmod(max(0.0, t), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{int(s):02d}" if h else f"{m}:{int(s):02d}"


def cite(e: Evidence) -> str:
    return f"{os.path.basename(e.uri) or e.video_id} {hms(e.start)}-{hms(e.end)}"


def extractive(ranked: Sequence[Evidence]) -> str:
    """Without an LLM: the best evidence's text with where it is."""
    if not ranked:
        return "No evidence found in this store."
    top = ranked[0]
    body = top.text.strip() or f"({top.modality} moment)"
    return f"{body} [{cite(top)}]"

"""The retrieval agent: ONE generator loop (``Agent._loop``) that asks a policy for the next tool call, runs it,
merges the evidence, scores sufficiency and stops at the budget; ``ask`` drains it, ``stream`` yields its
steps as dicts. The policy is the deterministic planner (``memindex.query.strategy``) or an LLM
(``memindex.query.llm_agent``)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from memindex.errors import ConfigError, MemIndexError, QueryError
from memindex.query.abstain import THRESHOLD, Support, support
from memindex.query.compose import Draft, extractive, from_model, not_found
from memindex.query.plan import Catalog, Plan, make_plan
from memindex.query.sufficiency import Verdict, judge
from memindex.query.tools import Evidence, Toolbox, ToolResult
from memindex.search import coverage

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
        out = {
            "type": "step",
            "index": self.index,
            "tool": self.tool,
            "arguments": self.arguments,
            "count": self.count,
            "seconds": round(self.seconds, 4),
            "tokens": self.tokens,
        }
        if self.error:
            out["error"] = self.error
        if self.sufficiency:
            out["sufficiency"] = self.sufficiency
        return out


@dataclass
class Answer:
    """``citations`` are exactly the moments ``answer`` uses (empty when it abstains); ``evidence`` is what
    the agent found, best first (when it abstains: the nearest candidates, which are not answers)."""

    answer: str
    confidence: float
    evidence: list[Evidence]
    trace: list[Step]
    cost: dict[str, Any]
    plan: dict = field(default_factory=dict)
    abstained: bool = False
    citations: list[Evidence] = field(default_factory=list)
    support: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "answer": self.answer,
            "confidence": round(self.confidence, 3),
            "abstained": self.abstained,
            "citations": [e.to_dict() for e in self.citations],
            "support": self.support,
            "evidence": [e.to_dict() for e in self.evidence],
            "trace": [s.to_dict() for s in self.trace],
            "cost": self.cost,
        }


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
    draft: Draft | None = None  # the answer a strategy resolved (else: extractive from the best evidence)
    min_confidence: float = THRESHOLD
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
            if (
                self.plan.phrases
                and e.text
                and "phrase" not in e.signals
                and any(_flat(ph) in _flat(e.text) for ph in self.plan.phrases)
            ):
                e.score, e.signals["phrase"] = e.score + 0.1, True  # the quoted words, verbatim
            old = self.pool.get(e.key())
            if old is None or e.score > old.score:
                self.pool[e.key()] = e

    def ranked(self) -> list[Evidence]:
        chosen = {e.key() for e in self.resolved}
        rest = sorted((e for e in self.pool.values() if e.key() not in chosen), key=lambda e: (-e.score, e.start))
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

    def _loop(
        self,
        question: str,
        *,
        max_steps: int = 4,
        max_seconds: float | None = None,
        max_tokens: int | None = None,
        videos: Sequence[str] | None = None,
        llm: Any = None,
        budget: Budget | None = None,
        min_confidence: float | None = None,
    ) -> Iterator[Step | Answer | dict]:
        if not isinstance(question, str) or not question.strip():
            raise QueryError("the question is empty")
        if min_confidence is not None and not (isinstance(min_confidence, (int, float)) and 0 <= min_confidence <= 1):
            raise QueryError(f"min_confidence must be a number from 0 to 1, not {min_confidence!r}")
        if isinstance(llm, str):
            raise ConfigError(
                f"llm={llm!r}: pass llm=LLMConfig(base_url=..., model=..., api_key=...) or a chat client; the "
                "library reads no environment (the CLI and server take MEMINDEX_LLM_* and pass it)"
            )
        budget = budget or Budget(max_steps, max_seconds, max_tokens)
        vids = [self.tools.video_id(v) for v in videos] if videos else None
        catalog = Catalog.of(self.index)
        state = State(make_plan(question, catalog, vids), budget, catalog)
        if min_confidence is not None:
            state.min_confidence = float(min_confidence)
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
        from memindex.query.strategy import RulePolicy

        if llm in (None, False):
            return RulePolicy(state)
        from memindex.query.llm_agent import LLMPolicy

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
        step = Step(
            index=len(state.trace) + 1,
            tool=action.tool,
            arguments=result.arguments,
            count=len(result.items),
            seconds=time.perf_counter() - t0,
            tokens=action.tokens,
            error=error,
            sufficiency=state.verdict.to_dict(),
        )
        state.trace.append(step)
        return step

    def _answer(self, state: State, policy: Any) -> Answer:
        ranked = state.ranked()
        draft, sup, conf = _draft(state, policy, ranked)
        abstained = draft is None or bool(draft.missing) or not draft.cites or conf < state.min_confidence
        if abstained:
            reason = "no evidence" if not ranked else (draft.missing if draft is not None else "")
            text = not_found(" ".join(state.plan.terms) or state.plan.question, ranked, state.plan.terms, reason)
        else:
            assert draft is not None
            text = draft.text
        cost = {
            "steps": state.steps,
            "seconds": round(state.elapsed(), 4),
            "tokens": state.tokens,
            "llm_calls": len([s for s in state.trace if s.tool == "llm"]) + getattr(policy, "calls", 0),
            "budget": {
                "max_steps": state.budget.max_steps,
                "max_seconds": state.budget.max_seconds,
                "max_tokens": state.budget.max_tokens,
            },
            "stopped": _stopped(state),
        }
        return Answer(
            answer=text,
            confidence=round(conf, 3),
            evidence=ranked[:10],
            trace=state.trace,
            cost=cost,
            plan=state.plan.to_dict(),
            abstained=abstained,
            citations=[] if abstained or draft is None else list(draft.cites),
            support={**sup.to_dict(), "threshold": state.min_confidence},
        )


def _draft(state: State, policy: Any, ranked: list[Evidence]) -> tuple[Draft | None, Support, float]:
    """The answer (the policy's own text, a strategy's resolution, or extractive), its support and confidence:
    the calibrated support, capped by the model's own confidence when a model answered."""
    p = state.plan
    model_text = policy.answer_text(state)
    model_conf = getattr(policy, "confidence", None)
    if model_text:
        draft, said = from_model(model_text, ranked, p.terms)
        model_conf = said if model_conf is None else model_conf
    else:
        draft, model_conf = state.draft or extractive(p.terms, ranked), None
    sup = support(draft.support_on(p.terms), p.phrases, ranked) if draft is not None else Support()
    conf = sup.confidence if model_conf is None else min(sup.confidence, float(model_conf))
    return draft, sup, conf


def _stopped(state: State) -> str:
    spent = state.spent()
    if spent:
        return f"budget ({spent})"
    return "sufficient" if state.verdict.sufficient or state.resolved else "no further step"


def _flat(text: str) -> str:
    return " ".join(re.findall(r"[\w']+", text.lower()))

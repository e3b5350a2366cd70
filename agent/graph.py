"""The critique-refine loop as a LangGraph ``StateGraph`` (DESIGN.md §3).

::

    START -> generate -> check -> critique -> decide --accepted---------------------------> END
          \\-(steps given)-^   ^                   |--round limit / same solution / unreadable --> END
                              +----- refine <-----+--first wrong step k

A *round* is one solution being checked (SymPy) and critiqued. ``max_rounds`` bounds the rounds, so it allows at
most ``max_rounds - 1`` refinements. The ``critique`` node closes each round with a verdict (:func:`judge`, a pure
function) and the ``decide`` edge routes on it: the loop stops, in this order, when

- the solution has no steps (``empty_solution``);
- the critique accepts it and no SymPy veto applies (``accepted``);
- nothing flags a step: the critique could not be read and SymPy found nothing (``critic_unparsed`` /
  ``critic_truncated``). Re-asking a greedy critic about the same text gives the same text, so a retry is not free
  progress; the row is reported as not accepted. A truncated critique that already judged some step wrong *does*
  flag it (the trained format stops at the first wrong step), and a SymPy contradiction flags a step on its own;
- ``max_rounds`` rounds are done (``max_rounds``);
- this solution was already critiqued in an earlier round (``repeated_solution``): refining it again would repeat
  the same feedback.

Otherwise it refines from the first flagged step ``k``: steps ``1..k-1`` are kept byte-identical, the generator gets
the critique up to step ``k`` (plus SymPy evidence in ``veto`` mode) and continues its own answer from ``Step k:``.

SymPy modes: ``off`` (no checks), ``veto`` (first wrong step = the earlier of the critic's and a definite SymPy
contradiction; the evidence goes into the feedback), ``prompt`` (the findings are shown to the critic as tool notes;
the critic alone decides).

Critic formats: ``free`` (the critic writes what it likes; :func:`critic.parse.parse_critique` reads it) or
``guided`` (the engine holds the critique to the trained format with structured outputs, :mod:`critic.guided`: a
block per step up to the first wrong one, then the Answer; the reasoning bound makes it fit ``max_tokens``). A guided
critique that does not match the format although it stopped by itself means the engine ignored the constraint (a
server without structured outputs): the round keeps the free reading and says so in ``critic_note``.

Engines and settings travel in the run's :class:`LoopContext` (LangGraph runtime context), never in the state, so
one compiled graph serves every run and many runs share one batching engine concurrently.
"""

from __future__ import annotations

import asyncio
import logging
import operator
from dataclasses import dataclass, field
from typing import Annotated, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import RetryPolicy
from pydantic import BaseModel, Field

from critic.engines.base import (
    Chat,
    ChatEngine,
    EngineDead,
    EngineError,
    Generation,
    RequestRejected,
    Sampling,
    check_generations,
)
from critic.guided import CriticFormat, GuidedFormat, guided_sampling
from critic.parse import parse_critique
from critic.prompts import CriticPrompt, feedback_for_refinement, refine_messages, solve_messages
from critic.records import NO_ERROR, Critique, Evidence, StepCheck, StepOrigin, SympyMode, first_sympy_finding
from critic.steps import split_steps
from critic.verify import check_steps

log = logging.getLogger(__name__)
_WARNED_UNGUIDED: set[str] = set()  # critic engines already reported for ignoring the guided format

StopReason = Literal[
    "accepted", "max_rounds", "repeated_solution", "critic_unparsed", "critic_truncated", "empty_solution"
]
FlaggedBy = Literal["critic", "sympy", "both"]


class RoundTrace(BaseModel):
    """One round: the solution as it stood, what SymPy and the critic said, and what happened next."""

    round: int
    steps: list[str]
    origin: StepOrigin
    kept_steps: int = 0  # how many leading steps were carried over unchanged from the previous round
    checks: list[StepCheck] = Field(default_factory=list)
    critique: Critique
    first_wrong_step1: int | None  # after combining critic and SymPy (-1 = none, None = unreadable, nothing flagged)
    flagged_by: FlaggedBy | None = None
    refine_from_step1: int | None = None  # the step the next round regenerates from; None when the loop stopped
    feedback: str | None = None  # what the generator was told for that refinement
    generator_tokens: int = 0  # spent producing this round's solution
    critic_tokens: int = 0  # spent critiquing it
    critic_note: str | None = None  # guided format only: why this critique may not be held to the format


class LoopState(TypedDict, total=False):
    """The graph's state between nodes: the problem, the current solution (``steps``, without ``Step i:`` prefixes) and
    where it came from, the round counter, this round's SymPy checks and critique, the refinement point (1-based
    ``refine_from_step1``) and feedback, and when the loop stops its ``stop_reason``. ``trace`` and the token
    counters are accumulated across nodes (LangGraph reducers); every node returns a partial update."""

    problem: str
    steps: list[str]  # the current solution, without "Step i:" prefixes
    origin: StepOrigin
    kept_steps: int
    round: int  # rounds critiqued so far
    checks: list[StepCheck]
    critique: Critique
    solution_tokens: int  # generator tokens behind the current solution
    refine_from_step1: int
    feedback: str
    stop_reason: StopReason
    accepted: bool
    trace: Annotated[list[RoundTrace], operator.add]
    generator_tokens: Annotated[int, operator.add]
    critic_tokens: Annotated[int, operator.add]


@dataclass(frozen=True)
class LoopContext:
    """Engines and settings of one run (LangGraph runtime context; see the module docstring)."""

    generator: ChatEngine
    critic: ChatEngine
    max_rounds: int = 3
    sympy: SympyMode = "veto"
    sampling: Sampling = field(default_factory=Sampling)  # generator decoding
    critic_sampling: Sampling | None = None  # defaults to ``sampling``
    critic_prompt: CriticPrompt = field(default_factory=CriticPrompt)  # our wording unless a template is given
    critic_format: CriticFormat = "free"  # guided: the critique is held to the trained format (critic.guided)


# ---- helpers ------------------------------------------------------------------------------------------------------


async def _complete(engine: ChatEngine, chat: Chat, sampling: Sampling) -> Generation:
    """One greedy/first sample. A refused request raises :class:`RequestRejected` (the row's own fault, not
    retried); a dead engine raises :class:`EngineDead` (never retried: the batch stops)."""
    generations = await engine.agenerate(chat, sampling.model_copy(update={"n": 1}))
    try:
        return check_generations(generations)[0]
    except RequestRejected as exc:
        raise RequestRejected(f"{engine.name}: {exc}") from None


def _continued_steps(continuation: str, kept: list[str]) -> list[str]:
    """Kept steps (the very same strings) + the steps of the generator's continuation of its prefilled ``Step k:``."""
    return list(kept) + split_steps(f"Step {len(kept) + 1}:{continuation}")


def tool_notes(checks: list[StepCheck]) -> str | None:
    """SymPy results as notes for the critic (``prompt`` mode): contradictions first, then verified claims."""
    lines = []
    for check in checks:
        for ev in check.evidence:
            if not ev.ok:
                lines.append(f"Step {check.step1}: {ev.claim} is FALSE, the left side equals {ev.expected}.")
    for check in checks:
        for ev in check.evidence:
            if ev.ok:
                lines.append(f"Step {check.step1}: {ev.claim} verified.")
    return "\n".join(lines) or None


def critic_flag(critique: Critique) -> int | None:
    """The critic's first wrong step: its final answer, or for an unreadable critique the first step it already
    judged wrong (-1 / None when none)."""
    if critique.status == "ok":
        return critique.first_wrong_step1
    wrong = [v.step1 for v in critique.verdicts if v.verdict == "wrong"]
    return min(wrong) if wrong else None


def combine(critic_step1: int | None, sympy_step1: int, mode: SympyMode) -> tuple[int | None, FlaggedBy | None]:
    """First wrong step after the SymPy setting, and who flagged it."""
    flags = {"critic": critic_step1 if critic_step1 not in (None, NO_ERROR) else None}
    flags["sympy"] = sympy_step1 if mode == "veto" and sympy_step1 != NO_ERROR else None
    found = [s for s in flags.values() if s is not None]
    if not found:
        return critic_step1, None  # -1 (accepted) or None (unreadable)
    first = min(found)
    by = [name for name, s in flags.items() if s == first]
    return first, ("both" if len(by) == 2 else by[0])


def _evidence_at(checks: list[StepCheck], step1: int) -> list[Evidence]:
    return [ev for c in checks if c.step1 == step1 for ev in c.evidence if not ev.ok]


# ---- nodes (each returns a partial state update) ------------------------------------------------------------------


async def generate(state: LoopState, runtime: Runtime[LoopContext]) -> LoopState:
    """Node: the generator writes a first solution (``origin: generated``). Raises what the engine raises (EngineError
    is retried by the graph's retry policy, EngineDead and RequestRejected are not)."""
    ctx = runtime.context
    chat = solve_messages(state["problem"])
    out = await _complete(ctx.generator, chat, ctx.sampling)
    return {"steps": _continued_steps(out, []), "origin": "generated", "kept_steps": 0,
            "solution_tokens": out.num_tokens, "generator_tokens": out.num_tokens}


async def check(state: LoopState, runtime: Runtime[LoopContext]) -> LoopState:
    """Node: the SymPy tool's checks of every step (:func:`critic.verify.check_steps`, time-boxed, in a worker thread);
    none when ``sympy`` is ``off`` or there are no steps."""
    if runtime.context.sympy == "off" or not state["steps"]:
        return {"checks": []}
    # SymPy is CPU-bound and time-boxed; a worker thread keeps the event loop feeding the engine meanwhile.
    return {"checks": await asyncio.to_thread(check_steps, state["problem"], state["steps"])}


def guided_note(guided: GuidedFormat, out: Generation) -> str | None:
    """What a guided critique's round should say about the format (None: nothing to say): the engine did not hold
    the text to the format (:meth:`GuidedFormat.held`), or the format could not fit ``max_tokens``."""
    if not guided.held(out, out.finish_reason):
        return ("guided: the critic engine did not hold the critique to the format (a server without structured "
                "outputs?); read as free text")
    if not guided.fits:
        return (f"guided: {guided.num_steps} steps need {guided.max_chars + 1} tokens at worst, more than "
                f"max_tokens={guided.max_tokens}; reasoning bounded to {guided.reasoning_chars} characters per step")
    return None


async def critique(state: LoopState, runtime: Runtime[LoopContext]) -> LoopState:
    """Node: the critic judges the current steps (guided to the trained format when ``critic_format`` is ``guided``;
    with ``sympy: prompt`` the tool's findings go into the prompt) and the round is closed
    (:func:`close_round`). Raises what the engine raises."""
    ctx, steps = runtime.context, state["steps"]
    if not steps:
        return close_round(state, ctx, Critique(status="unparsed"), critic_tokens=0)
    notes = tool_notes(state["checks"]) if ctx.sympy == "prompt" else None
    sampling = ctx.critic_sampling or ctx.sampling
    guided = None
    if ctx.critic_format == "guided":
        sampling, guided = guided_sampling(sampling, len(steps))
    out = await _complete(ctx.critic, ctx.critic_prompt.messages(state["problem"], steps, tool_notes=notes), sampling)
    note = guided_note(guided, out) if guided is not None else None
    if note is not None and not guided.held(out, out.finish_reason) and ctx.critic.name not in _WARNED_UNGUIDED:
        _WARNED_UNGUIDED.add(ctx.critic.name)  # a misconfiguration: say it once per engine (every round notes it)
        log.warning("%s: %s", ctx.critic.name, note)
    update = close_round(state, ctx, parse_critique(out, len(steps), out.finish_reason), critic_tokens=out.num_tokens,
                         critic_note=note)
    return update | {"critic_tokens": out.num_tokens}


def judge(state: LoopState, ctx: LoopContext, crit: Critique) -> tuple[StopReason | None, int | None, FlaggedBy | None]:
    """The stop rules (module docstring), in order: (stop reason or None to refine, first wrong step, who flagged)."""
    first, by = combine(critic_flag(crit), first_sympy_finding(state["checks"]), ctx.sympy)
    if not state["steps"]:
        return "empty_solution", first, by
    if first == NO_ERROR and crit.accepts:
        return "accepted", first, by
    if first in (None, NO_ERROR):
        return ("critic_truncated" if crit.status == "truncated" else "critic_unparsed"), first, by
    if state.get("round", 0) + 1 >= ctx.max_rounds:
        return "max_rounds", first, by
    if any(entry.steps == state["steps"] for entry in state.get("trace", [])):
        return "repeated_solution", first, by
    return None, first, by


def close_round(state: LoopState, ctx: LoopContext, crit: Critique, critic_tokens: int,
                critic_note: str | None = None) -> LoopState:
    """The round's verdict and trace entry; with no stop reason, the refinement point and the generator's feedback."""
    stop, first, by = judge(state, ctx, crit)
    feedback = None
    if stop is None:
        evidence = _evidence_at(state["checks"], first) if ctx.sympy == "veto" else []
        feedback = feedback_for_refinement(crit, first, evidence)
    rnd = state.get("round", 0) + 1
    entry = RoundTrace(round=rnd, steps=state["steps"], origin=state["origin"], kept_steps=state.get("kept_steps", 0),
                       checks=state["checks"], critique=crit, first_wrong_step1=first, flagged_by=by,
                       refine_from_step1=None if stop else first, feedback=feedback,
                       generator_tokens=state.get("solution_tokens", 0), critic_tokens=critic_tokens,
                       critic_note=critic_note)
    update: LoopState = {"round": rnd, "critique": crit, "trace": [entry]}
    if stop is not None:
        return update | {"stop_reason": stop, "accepted": stop == "accepted"}
    return update | {"refine_from_step1": first, "feedback": feedback}


def decide(state: LoopState) -> Literal["refine", "__end__"]:
    """Route after a critique: stop when the round closed with a stop reason, else refine."""
    return END if state.get("stop_reason") else "refine"


async def refine(state: LoopState, runtime: Runtime[LoopContext]) -> LoopState:
    """Node: the generator rewrites the solution from step ``refine_from_step1`` (1-based) on, keeping the steps before
    it, with the round's feedback (``origin: refined``). Raises what the engine raises."""
    ctx, k = runtime.context, state["refine_from_step1"]
    kept = state["steps"][: k - 1]
    chat = refine_messages(state["problem"], kept, state["feedback"], rejected_step=state["steps"][k - 1])
    out = await _complete(ctx.generator, chat, ctx.sampling)
    return {"steps": _continued_steps(out, kept), "origin": "refined", "kept_steps": len(kept),
            "solution_tokens": out.num_tokens, "generator_tokens": out.num_tokens}


def _entry(state: LoopState) -> Literal["generate", "check"]:
    return "check" if state.get("steps") else "generate"


# ---- the graph ----------------------------------------------------------------------------------------------------

def retryable(exc: Exception) -> bool:
    """Worth another try of the node: a transient engine failure. Not a dead engine (retrying would turn it into
    error rows, and the batch must stop instead) nor a refused request (it would be refused again)."""
    if isinstance(exc, (EngineDead, RequestRejected)):
        return False
    return isinstance(exc, (EngineError, ConnectionError, TimeoutError))


ENGINE_RETRY = RetryPolicy(max_attempts=3, initial_interval=0.5, retry_on=retryable)


def build_graph(retry: RetryPolicy = ENGINE_RETRY):
    """The compiled LangGraph of the loop: START -> generate (or check, when steps are given) -> check -> critique ->
    refine or END; refine -> check. Engine nodes retry transient failures with ``retry`` (:data:`ENGINE_RETRY`).
    Run it with a :class:`LoopContext` as the runtime context."""
    g = StateGraph(LoopState, context_schema=LoopContext)
    g.add_node("generate", generate, retry_policy=retry)
    g.add_node("check", check)
    g.add_node("critique", critique, retry_policy=retry)
    g.add_node("refine", refine, retry_policy=retry)
    g.add_conditional_edges(START, _entry, ["generate", "check"])
    g.add_edge("generate", "check")
    g.add_edge("check", "critique")
    g.add_conditional_edges("critique", decide, ["refine", END])
    g.add_edge("refine", "check")
    return g.compile()


LOOP = build_graph()


def recursion_limit(max_rounds: int) -> int:
    """Super-steps one run can take: generate + per round (check, critique, refine), with slack."""
    return 3 * max_rounds + 8

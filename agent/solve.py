"""Public entry points over the loop: solve one problem, critique one solution."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, computed_field

from agent.graph import LOOP, LoopContext, LoopState, RoundTrace, StopReason, recursion_limit
from critic.engines.base import ChatEngine, Sampling
from critic.grading import extract_answer
from critic.guided import CRITIC_FORMATS, CriticFormat
from critic.prompts import CriticPrompt
from critic.records import SYMPY_MODES, SympyMode

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_ENGINE = "embedded"


class SolveResult(BaseModel):
    """What one run of the loop produced; ``model_dump(mode="json")`` is the JSONL row format."""

    problem: str
    steps: list[str]  # the final solution
    answer: str | None  # its final answer (\\boxed{}, "####" or "The answer is"), None when it states none
    accepted: bool  # the critic accepted the final solution and no SymPy veto applied
    rounds: int
    stop_reason: StopReason
    trace: list[RoundTrace]
    generator: str
    critic: str
    sympy: SympyMode
    critic_format: CriticFormat = "free"
    generator_tokens: int = 0
    critic_tokens: int = 0
    # How the generator engine continued its assistant prefixes: "chat-extension" or "completions" for an openai:
    # engine (OpenAIEngine.continuation_mode); None for in-process engines, which render the chat template themselves.
    continuation: str | None = None

    @computed_field
    @property
    def tokens(self) -> int:
        """Generated tokens of the whole loop: generator plus critic."""
        return self.generator_tokens + self.critic_tokens


def resolve_engine(engine: ChatEngine | str | None, **options: Any) -> ChatEngine:
    """An engine object as is; a spec string (or None = the embedded default) through ``get_engine`` with
    ``options`` (engine arguments, see :mod:`critic.engines.options`)."""
    if engine is None or isinstance(engine, str):
        from critic.engines import get_engine  # builds (and caches) the backend only when asked

        return get_engine(engine or DEFAULT_ENGINE, **options)
    return engine


def final_answer(steps: Sequence[str]) -> str | None:
    """The answer stated last: the last step that states one (a closing remark may follow the boxed step)."""
    for step in reversed(steps):
        if (answer := extract_answer(step)) is not None:
            return answer
    return None


def make_context(
    generator: ChatEngine | str | None,
    critic: ChatEngine | str | None,
    *,
    max_rounds: int,
    sympy: SympyMode,
    sampling: Sampling | None,
    critic_sampling: Sampling | None = None,
    critic_prompt: CriticPrompt | None = None,
    critic_format: CriticFormat = "free",
    engine_args: Mapping[str, Mapping[str, Any]] | None = None,
) -> LoopContext:
    """The :class:`LoopContext` of a run: engines resolved from specs (``engine_args``: options per role,
    ``generator`` / ``critic``, for specs given as strings), settings checked.

    Raises:
        ValueError: an unknown ``sympy`` mode or ``critic_format``, ``max_rounds < 1``, SymPy notes with a template,
            or ``guided`` with a critic prompt that does not ask for the trained (deliberate) format.
    """
    if sympy not in SYMPY_MODES:
        raise ValueError(f"sympy must be one of {', '.join(SYMPY_MODES)}, got {sympy!r}")
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
    if critic_format not in CRITIC_FORMATS:
        raise ValueError(f"critic_format must be one of {', '.join(CRITIC_FORMATS)}, got {critic_format!r}")
    mode: SympyMode = sympy  # type: ignore[assignment]  # checked above
    prompt = critic_prompt or CriticPrompt()
    if critic_format == "guided" and prompt.style != "deliberate":
        raise ValueError(f"critic_format=guided holds the critique to the deliberate format; the {prompt.style} "
                         "prompt asks for another")
    if mode == "prompt" and prompt.template is not None:
        raise ValueError("sympy=prompt shows SymPy notes in our critic wording; a critic template has no place for "
                         "them (use veto or off)")
    args = engine_args or {}
    return LoopContext(generator=resolve_engine(generator, **args.get("generator", {})),
                       critic=resolve_engine(critic, **args.get("critic", {})), max_rounds=max_rounds,
                       sympy=mode, sampling=sampling or Sampling(), critic_sampling=critic_sampling,
                       critic_prompt=prompt, critic_format=critic_format)  # type: ignore[arg-type]  # checked


async def run_loop(problem: str, ctx: LoopContext, steps: list[str] | None = None) -> SolveResult:
    """One graph run. With ``steps`` the loop starts at ``check`` on that solution; without, at ``generate``."""
    start: LoopState = {"problem": problem, "round": 0, "trace": [], "generator_tokens": 0, "critic_tokens": 0}
    if steps:
        start |= {"steps": list(steps), "origin": "given", "kept_steps": 0, "solution_tokens": 0}
    final = await LOOP.ainvoke(start, context=ctx, config={"recursion_limit": recursion_limit(ctx.max_rounds)})
    return SolveResult(
        problem=problem, steps=final["steps"], answer=final_answer(final["steps"]), accepted=final["accepted"],
        rounds=final["round"], stop_reason=final["stop_reason"], trace=final["trace"], generator=ctx.generator.name,
        critic=ctx.critic.name, sympy=ctx.sympy, critic_format=ctx.critic_format,
        generator_tokens=final["generator_tokens"],
        critic_tokens=final["critic_tokens"], continuation=getattr(ctx.generator, "continuation_mode", None),
    )


def _run_sync(coro):
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError("called from a running event loop: await asolve_with_critic / acritique_solution instead")


async def asolve_with_critic(
    problem: str,
    *,
    generator: ChatEngine | str | None = None,
    critic: ChatEngine | str | None = None,
    max_rounds: int = 3,
    sympy: SympyMode = "veto",
    sampling: Sampling | None = None,
    critic_sampling: Sampling | None = None,
    critic_prompt: CriticPrompt | None = None,
    critic_format: CriticFormat = "free",
) -> SolveResult:
    """Async :func:`solve_with_critic`, for callers that already run an event loop."""
    ctx = make_context(generator, critic, max_rounds=max_rounds, sympy=sympy, sampling=sampling,
                       critic_sampling=critic_sampling, critic_prompt=critic_prompt, critic_format=critic_format)
    return await run_loop(problem, ctx)


def solve_with_critic(
    problem: str,
    *,
    generator: ChatEngine | str | None = None,
    critic: ChatEngine | str | None = None,
    max_rounds: int = 3,
    sympy: SympyMode = "veto",
    sampling: Sampling | None = None,
    critic_sampling: Sampling | None = None,
    critic_prompt: CriticPrompt | None = None,
    critic_format: CriticFormat = "free",
) -> SolveResult:
    """Generate a step-by-step solution, then critique and refine it until the critic accepts it (or the loop stops).

    ``generator`` / ``critic``: a :class:`ChatEngine` or an engine spec (``"embedded"``, ``"vllm:<model>"``,
    ``"hf:<model>"``, ``"openai:<url>#<model>"``); None = the embedded default. ``max_rounds`` bounds the critique
    rounds (so at most ``max_rounds - 1`` refinements). ``sympy``: ``off`` | ``veto`` | ``prompt`` (see
    :mod:`agent.graph`). ``sampling`` applies to both roles unless ``critic_sampling`` is given. ``critic_prompt``
    builds the critic's chat (:class:`critic.prompts.CriticPrompt`; default our wording). ``critic_format``:
    ``free`` | ``guided`` (the critique is held to the trained format by the engine's structured outputs; see
    :mod:`critic.guided`).
    """
    return _run_sync(asolve_with_critic(problem, generator=generator, critic=critic, max_rounds=max_rounds,
                                        sympy=sympy, sampling=sampling, critic_sampling=critic_sampling,
                                        critic_prompt=critic_prompt, critic_format=critic_format))


async def acritique_solution(
    problem: str,
    steps: list[str],
    *,
    critic: ChatEngine | str | None = None,
    sympy: SympyMode = "veto",
    sampling: Sampling | None = None,
    critic_prompt: CriticPrompt | None = None,
    critic_format: CriticFormat = "free",
) -> RoundTrace:
    """Async :func:`critique_solution`."""
    if not steps:
        raise ValueError("the solution has no steps")
    crit = resolve_engine(critic)
    # One round that starts at `check`: the generator is never called, so the critic stands in for it.
    ctx = make_context(crit, crit, max_rounds=1, sympy=sympy, sampling=sampling, critic_prompt=critic_prompt,
                       critic_format=critic_format)
    return (await run_loop(problem, ctx, steps=steps)).trace[0]


def critique_solution(
    problem: str,
    steps: list[str],
    *,
    critic: ChatEngine | str | None = None,
    sympy: SympyMode = "veto",
    sampling: Sampling | None = None,
    critic_prompt: CriticPrompt | None = None,
    critic_format: CriticFormat = "free",
) -> RoundTrace:
    """Check (SymPy) and critique one solution: per-step verdicts, findings and the combined first wrong step.
    ``critic_format``: ``free`` | ``guided`` (see :func:`solve_with_critic`)."""
    return _run_sync(acritique_solution(problem, steps, critic=critic, sympy=sympy, sampling=sampling,
                                        critic_prompt=critic_prompt, critic_format=critic_format))


__all__ = [
    "DEFAULT_ENGINE",
    "SolveResult",
    "acritique_solution",
    "asolve_with_critic",
    "critique_solution",
    "final_answer",
    "make_context",
    "resolve_engine",
    "run_loop",
    "solve_with_critic",
]

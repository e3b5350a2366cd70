"""Prompts: the deliberate critic, the ProcessBench-style baseline, the generator (solve, refine) and the teacher
prompts for seed synthesis, plus the renderers of the trained critique format and of refinement feedback.

The formats are fixed by DESIGN.md §2 (tagged blocks, 1-based ``Step i:`` for the critic, 0-based paragraphs for the
baseline, ``\\boxed{}`` judgements); the wording is ours.
"""

from __future__ import annotations

from collections.abc import Sequence

from critic.engines.base import Chat
from critic.parse import critique_body
from critic.records import NO_ERROR, Critique, Evidence, StepVerdict
from critic.steps import STEP_SEPARATOR, join_steps, number_steps

SOLVE_PREFIX = "Step 1:"  # the assistant prefix of solve_messages; engines return only what follows it

CRITIC_SYSTEM = (
    "You are a careful reviewer of mathematical reasoning. You examine a solution one step at a time, you never "
    "accept a step you have not verified yourself, and you confirm each conclusion with a second, independent check."
)

_CRITIC_INSTRUCTIONS = """\
Review the solution step by step and find the first step that contains an error, if any.

Write your review in this form:
1. Take the steps in order, starting with Step 1. Open each one with the heading **Critique of Step i** (i is the \
step number).
2. Below the heading, test the step: redo its calculations, and check its reasoning against the problem and the \
steps before it. Then confirm your conclusion another way (a different method, substituting values back, an \
estimate, a special case) before you decide.
3. End the step with the line **Judgement**: \\boxed{1} if the step is correct, or **Judgement**: \\boxed{-1} if it \
contains an error.
4. Stop reviewing after the first step you judge \\boxed{-1}; later steps do not matter.
5. Finish with the line **Answer**: \\boxed{k}, where k is the number of the first incorrect step, or \
**Answer**: \\boxed{-1} if every step is correct."""


def _block(tag: str, body: str) -> str:
    return f"<{tag}>\n{body.strip()}\n</{tag}>"


def _system_user(system: str, user: str) -> Chat:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def critic_messages(problem: str, steps: list[str], tool_notes: str | None = None) -> Chat:
    """The deliberate critic prompt: problem and 1-based numbered solution in tagged blocks, optional SymPy notes."""
    parts = [_block("problem", problem), _block("solution", join_steps(steps))]
    if tool_notes and tool_notes.strip():
        parts.append(
            "Notes from an exact SymPy check of the explicit calculations in the steps (they cover arithmetic only, "
            "not the reasoning; weigh them with your own checks):\n" + _block("tool_notes", tool_notes)
        )
    parts.append(f"The solution has {len(steps)} steps.\n\n{_CRITIC_INSTRUCTIONS}")
    return _system_user(CRITIC_SYSTEM, "\n\n".join(parts))


def processbench_messages(problem: str, steps: list[str]) -> Chat:
    """ProcessBench-style baseline prompt: paragraphs tagged ``<paragraph_0>``.., answer = 0-based index or -1."""
    paragraphs = "\n\n".join(_block(f"paragraph_{i}", s) for i, s in enumerate(steps))
    user = (
        "Below is a math problem and a proposed solution divided into paragraphs. The paragraphs are numbered from 0.\n\n"
        f"{_block('problem', problem)}\n\n<solution>\n{paragraphs}\n</solution>\n\n"
        "Check the paragraphs in order and find the earliest one that contains a mistake. Reason it through, then "
        "give the index of that paragraph in \\boxed{}, or \\boxed{-1} if no paragraph contains a mistake."
    )
    return [{"role": "user", "content": user}]


GENERATOR_SYSTEM = "You are a precise math solver. You write clear solutions in numbered steps."

_SOLVE_FORMAT = (
    "Write the solution as numbered steps: each step starts with \"Step i:\" and steps are separated by a blank line. "
    "Do one piece of reasoning or calculation per step. Give the final answer in the last step as \\boxed{answer}."
)


def solve_messages(problem: str) -> Chat:
    """Generator prompt; ends with the assistant prefix ``Step 1:`` for the engine to continue."""
    user = f"Solve this problem.\n\n{_block('problem', problem)}\n\n{_SOLVE_FORMAT}"
    return _system_user(GENERATOR_SYSTEM, user) + [{"role": "assistant", "content": SOLVE_PREFIX}]


def refine_prefix(kept_steps: list[str]) -> str:
    """The assistant prefix of a refinement: the kept steps exactly as the critic saw them, then ``Step k:``."""
    next_step = f"Step {len(kept_steps) + 1}:"
    return join_steps(kept_steps) + STEP_SEPARATOR + next_step if kept_steps else next_step


def refine_messages(problem: str, kept_steps: list[str], feedback: str, rejected_step: str | None = None) -> Chat:
    """Generator prompt for refinement from step k = len(kept_steps) + 1.

    The user message carries the reviewer's feedback (and, when given, the rejected step as written); the assistant
    message is :func:`refine_prefix` so the engine continues from ``Step k:``.
    """
    k = len(kept_steps) + 1
    kept = f"Steps 1 to {k - 1} were checked and are kept as they are. " if kept_steps else ""
    rejected = f"\n\nYour previous Step {k} was:\n{_block('rejected_step', rejected_step)}" if rejected_step else ""
    user = (
        f"Solve this problem.\n\n{_block('problem', problem)}\n\n{_SOLVE_FORMAT}\n\n"
        f"A reviewer checked your previous attempt and found an error in Step {k}. {kept}"
        f"Here is the review:\n{_block('feedback', feedback)}{rejected}\n\n"
        f"Continue the solution from Step {k}: correct the error the review points out, then finish the solution."
    )
    return _system_user(GENERATOR_SYSTEM, user) + [{"role": "assistant", "content": refine_prefix(kept_steps)}]


TEACHER_SYSTEM = (
    "You are an expert mathematician who checks solutions rigorously. You judge exactly one step at a time, and you "
    "base every judgement on your own verification, not on how confident the solution sounds."
)


def _step_context(problem: str, steps: list[str], step1: int) -> str:
    if not 1 <= step1 <= len(steps):
        raise ValueError(f"step1={step1} outside 1..{len(steps)}")
    numbered = number_steps(steps)
    earlier = STEP_SEPARATOR.join(numbered[: step1 - 1]) or "(none: this is the first step)"
    return (
        f"{_block('problem', problem)}\n\n"
        f"Earlier steps of the solution (take them as given):\n{_block('earlier_steps', earlier)}\n\n"
        f"The step to judge:\n{_block('current_step', numbered[step1 - 1])}"
    )


def _judgement_instruction(step1: int) -> str:
    return (
        f"End with the line **Judgement**: \\boxed{{1}} if Step {step1} is correct, or **Judgement**: \\boxed{{-1}} if "
        "it contains an error."
    )


def initial_step_critique_messages(problem: str, steps: list[str], step1: int) -> Chat:
    """Teacher prompt: a first critique of one step (1-based ``step1``)."""
    user = (
        f"{_step_context(problem, steps, step1)}\n\n"
        f"Judge only Step {step1}. Check each calculation in it and whether its reasoning follows from the problem "
        "and the earlier steps. Explain what you checked and what you found.\n"
        + _judgement_instruction(step1)
    )
    return _system_user(TEACHER_SYSTEM, user)


def deep_verification_messages(problem: str, steps: list[str], step1: int, initial_critique: str) -> Chat:
    """Teacher prompt: re-verify a critique of one step by a different method; it may overturn the first verdict."""
    user = (
        f"{_step_context(problem, steps, step1)}\n\n"
        f"A first reviewer wrote this critique of Step {step1}:\n{_block('initial_critique', initial_critique)}\n\n"
        f"Verify Step {step1} again, independently and more thoroughly, using a different method from the one the "
        "first reviewer used: for example solve the relevant part another way, substitute results back, test special "
        "or boundary cases, or recompute with exact arithmetic. Also examine the first critique: point out anything "
        "it missed or got wrong. Your verdict may differ from the first one; follow your own verification.\n"
        + _judgement_instruction(step1)
    )
    return _system_user(TEACHER_SYSTEM, user)


def merge_critique_messages(
    problem: str, steps: list[str], step1: int, initial_critique: str, deep_critique: str
) -> Chat:
    """Teacher prompt: merge the initial and in-depth critiques into one deliberate critique of the step."""
    user = (
        f"{_step_context(problem, steps, step1)}\n\n"
        f"Two reviews of Step {step1}:\n{_block('initial_critique', initial_critique)}\n\n"
        f"{_block('in_depth_critique', deep_critique)}\n\n"
        f"Combine them into a single critique of Step {step1}, written as one reviewer thinking it through: first "
        "check the step, then re-check the conclusion by the second, different method, and where the two checks "
        "disagree, work out which one is right. The final verdict must agree with the in-depth review. Write it in "
        "the first person, do not mention that there were two reviews, and do not add a heading.\n"
        + _judgement_instruction(step1)
    )
    return _system_user(TEACHER_SYSTEM, user)


def _judgement_box(verdict: str) -> str:
    return "\\boxed{1}" if verdict == "correct" else "\\boxed{-1}"


def _render_step(v: StepVerdict) -> str:
    body = critique_body(v.text)
    lines = [f"**Critique of Step {v.step1}**"] + ([body] if body else [])
    return "\n".join(lines) + f"\n\n**Judgement**: {_judgement_box(v.verdict)}"


def format_critique(verdicts: Sequence[StepVerdict], first_wrong_step1: int) -> str:
    """Render the trained critique format (the SFT target of seed synthesis).

    ``verdicts`` must be steps 1, 2, ... in order, all correct up to the last; the last one is wrong exactly when
    ``first_wrong_step1`` is its step (the critique stops at the first wrong step), and all are correct when it is -1.
    """
    for expected, v in enumerate(verdicts, 1):
        if v.step1 != expected:
            raise ValueError(f"verdicts must be steps 1, 2, ... in order; got step {v.step1} at position {expected}")
    wrong = [v.step1 for v in verdicts if v.verdict == "wrong"]
    if first_wrong_step1 == NO_ERROR:
        if wrong:
            raise ValueError(f"first_wrong_step1=-1 but step {wrong[0]} is judged wrong")
    elif wrong != [first_wrong_step1] or verdicts[-1].step1 != first_wrong_step1:
        raise ValueError(
            f"first_wrong_step1={first_wrong_step1} needs correct verdicts up to it and a wrong verdict ending the "
            f"critique; wrong steps: {wrong}"
        )
    blocks = [_render_step(v) for v in verdicts]
    blocks.append(f"**Answer**: \\boxed{{{first_wrong_step1}}}")
    return "\n\n".join(blocks)


def _evidence_line(e: Evidence) -> str:
    if e.ok:
        return f"- `{e.claim}` holds (exact value {e.expected})."
    stated = f", not {e.stated}" if e.stated is not None else ""
    return f"- `{e.claim}` is false: the exact value is {e.expected}{stated}."


def feedback_for_refinement(critique: Critique, step1: int, evidence: Sequence[Evidence] = ()) -> str:
    """Feedback for the generator: the critique of steps 1..k (k = ``step1``) plus SymPy evidence lines."""
    # Step k's own block is shown only when the critic judged it wrong; when the SymPy veto moved k earlier than the
    # critic's answer, the critic's "correct" there would contradict the evidence.
    shown = [v for v in critique.verdicts if v.step1 < step1 or (v.step1 == step1 and v.verdict == "wrong")]
    parts = [_render_step(v) for v in shown]
    if not any(v.step1 == step1 for v in shown):
        parts.append(f"Step {step1} contains an error.")
    if evidence:
        parts.append(f"Exact checks (SymPy) of Step {step1}:\n" + "\n".join(_evidence_line(e) for e in evidence))
    return "\n\n".join(parts)

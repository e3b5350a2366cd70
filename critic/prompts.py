"""Prompts: the deliberate critic, the ProcessBench-style baseline, the generator (solve, refine) and the teacher
prompts for seed synthesis, plus the renderers of the trained critique format and of refinement feedback.

The formats are fixed by DESIGN.md §2 (tagged blocks, 1-based ``Step i:`` for the critic, 0-based paragraphs for the
baseline, ``\\boxed{}`` judgements); the wording is ours.

Templates are data: :class:`PromptTemplate` loads a user's template file (``str.format`` placeholders such as
``{problem}`` and ``{tagged_response}``, doubled braces for literal ones - the convention of the DeepCritic and
ProcessBench repositories), and :class:`CriticPrompt`, :class:`TeacherPrompts` and :class:`GeneratorPrompt` build the
chats of the critic, of seed synthesis and of mc-label from our wording or from such templates, with a system message
of our own, a given text, or none (``"none"``: the model's chat template decides; Qwen2.5's inserts its default).
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field

from critic.configs import StrictConfig
from critic.engines.base import Chat
from critic.parse import critique_body
from critic.records import NO_ERROR, Critique, Evidence, StepVerdict
from critic.steps import STEP_SEPARATOR, StepTagging, join_steps, number_steps

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


def critic_messages(problem: str, steps: list[str], tool_notes: str | None = None,
                    step_tagging: StepTagging = "startswith") -> Chat:
    """The deliberate critic prompt: problem and 1-based numbered solution in tagged blocks, optional SymPy notes."""
    parts = [_block("problem", problem), _block("solution", join_steps(steps, step_tagging))]
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
        "Below is a math problem and a proposed solution divided into paragraphs. "
        "The paragraphs are numbered from 0.\n\n"
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


TeacherContext = Literal["prefix", "whole"]
TEACHER_CONTEXTS: tuple[str, ...] = ("prefix", "whole")


def _step_context(problem: str, steps: list[str], step1: int, context: TeacherContext = "prefix") -> str:
    """What the teacher sees of the solution: the steps before ``step1`` and the step itself (``prefix``, ours), or
    the whole solution and which step to judge (``whole``, what DeepCritic's seed scripts show)."""
    if not 1 <= step1 <= len(steps):
        raise ValueError(f"step1={step1} outside 1..{len(steps)}")
    numbered = number_steps(steps)
    if context == "whole":
        return (
            f"{_block('problem', problem)}\n\n"
            f"The whole solution:\n{_block('solution', STEP_SEPARATOR.join(numbered))}\n\n"
            f"The step to judge (take the steps before it as given):\n{_block('current_step', numbered[step1 - 1])}"
        )
    if context != "prefix":
        raise ValueError(f"teacher context must be one of {', '.join(TEACHER_CONTEXTS)}, got {context!r}")
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


def initial_step_critique_messages(problem: str, steps: list[str], step1: int,
                                   context: TeacherContext = "prefix") -> Chat:
    """Teacher prompt: a first critique of one step (1-based ``step1``)."""
    user = (
        f"{_step_context(problem, steps, step1, context)}\n\n"
        f"Judge only Step {step1}. Check each calculation in it and whether its reasoning follows from the problem "
        "and the earlier steps. Explain what you checked and what you found.\n"
        + _judgement_instruction(step1)
    )
    return _system_user(TEACHER_SYSTEM, user)


def deep_verification_messages(problem: str, steps: list[str], step1: int, initial_critique: str,
                               context: TeacherContext = "prefix") -> Chat:
    """Teacher prompt: re-verify a critique of one step by a different method; it may overturn the first verdict."""
    user = (
        f"{_step_context(problem, steps, step1, context)}\n\n"
        f"A first reviewer wrote this critique of Step {step1}:\n{_block('initial_critique', initial_critique)}\n\n"
        f"Verify Step {step1} again, independently and more thoroughly, using a different method from the one the "
        "first reviewer used: for example solve the relevant part another way, substitute results back, test special "
        "or boundary cases, or recompute with exact arithmetic. Also examine the first critique: point out anything "
        "it missed or got wrong. Your verdict may differ from the first one; follow your own verification.\n"
        + _judgement_instruction(step1)
    )
    return _system_user(TEACHER_SYSTEM, user)


def merge_critique_messages(
    problem: str, steps: list[str], step1: int, initial_critique: str, deep_critique: str,
    context: TeacherContext = "prefix",
) -> Chat:
    """Teacher prompt: merge the initial and in-depth critiques into one deliberate critique of the step."""
    user = (
        f"{_step_context(problem, steps, step1, context)}\n\n"
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


# --- templates as data ------------------------------------------------------------------------------------------

NO_SYSTEM = "none"  # a system_prompt value: send no system message (the model's chat template decides)
TemplateKind = Literal["critic", "initial", "deep", "merge", "generator"]
# kind -> (placeholders the template must use, placeholders it may also use). The names follow the template files of
# the DeepCritic repository (critic: ProcessBench/code/templates/*.txt; initial / deep / merge:
# Critique_Generation/critique_prompt_initial.txt, critique_prompt_in_depth.txt, critique_merge_prompt.txt).
TEMPLATE_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "critic": (frozenset({"problem", "tagged_response"}), frozenset()),
    "initial": (frozenset({"problem", "solution", "step_index"}), frozenset()),
    "deep": (frozenset({"problem", "solution", "step_index", "original_critique"}), frozenset()),
    "merge": (
        frozenset({"original_critique", "critique_of_original_critique"}),
        frozenset({"problem", "solution", "step_index", "example1", "example2"}),
    ),
    "generator": (frozenset({"problem"}), frozenset()),
}
MAX_TEMPLATE_BYTES = 1_000_000


class TemplateError(ValueError):
    """A template that cannot be used: one line naming the file and the problem."""


def _names(names: frozenset[str]) -> str:
    return ", ".join("{" + n + "}" for n in sorted(names))


def template_placeholders(text: str, source: str = "<template>") -> frozenset[str]:
    """The ``{name}`` placeholders of a ``str.format`` template (``{{`` and ``}}`` are literal braces).

    Raises TemplateError (one line) for unbalanced braces and for placeholders that are not plain names (``{}``,
    ``{0}``, ``{a.b}``, ``{a[0]}``, ``{a!r}``, ``{a:>5}``): only plain names are ever filled.
    """
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        raise TemplateError(f"{source}: not a str.format template ({e}); "
                            "write {{ and }} for literal braces") from None
    names: set[str] = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise TemplateError(f"{source}: placeholder {shown} is not a plain name such as {{problem}}; write "
                                "{{ and }} for literal braces")
        names.add(name)
    return frozenset(names)


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt template read from a user's file, checked against the placeholders of its ``kind``
    (:data:`TEMPLATE_FIELDS`). The text is used exactly as the file holds it (read as UTF-8 text, universal newlines,
    nothing stripped); ``sha256`` is the digest of the file's bytes (what ``sha256sum`` prints)."""

    kind: TemplateKind
    text: str
    source: str
    sha256: str
    placeholders: frozenset[str]

    @classmethod
    def from_text(cls, text: str, kind: TemplateKind, source: str = "<template>",
                  sha256: str | None = None) -> PromptTemplate:
        """Check ``text`` as a ``kind`` template; TemplateError (one line) for an unknown or a missing placeholder."""
        if kind not in TEMPLATE_FIELDS:
            raise ValueError(f"template kind must be one of {', '.join(TEMPLATE_FIELDS)}, got {kind!r}")
        required, optional = TEMPLATE_FIELDS[kind]
        found = template_placeholders(text, source)
        unknown = sorted(found - required - optional)
        if unknown:
            raise TemplateError(f"{source}: unknown placeholder {{{unknown[0]}}} in a {kind} template (it may use "
                                f"{_names(required | optional)}; write {{{{ and }}}} for literal braces)")
        missing = sorted(required - found)
        if missing:
            raise TemplateError(f"{source}: a {kind} template needs the placeholder {{{missing[0]}}} (required: "
                                f"{_names(required)})")
        digest = sha256 or hashlib.sha256(text.encode("utf-8")).hexdigest()
        return cls(kind=kind, text=text, source=source, sha256=digest, placeholders=found)

    @classmethod
    def load(cls, path: str | Path, kind: TemplateKind) -> PromptTemplate:
        """Read and check a template file; TemplateError (one line) when it is missing, unreadable or wrong."""
        path = Path(path).expanduser()
        try:
            if path.stat().st_size > MAX_TEMPLATE_BYTES:
                raise TemplateError(f"{path}: a template file of over {MAX_TEMPLATE_BYTES} bytes is not a prompt")
            data = path.read_bytes()
        except FileNotFoundError:
            raise TemplateError(f"{path}: no such template file") from None
        except OSError as e:
            raise TemplateError(f"{path}: cannot read the template file ({e.strerror or e})") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise TemplateError(f"{path}: the template file is not UTF-8 text") from None
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # as Python's text mode reads it
        return cls.from_text(text, kind, str(path), hashlib.sha256(data).hexdigest())

    def render(self, **values: object) -> str:
        """``str.format`` the template with the given values (extra values are ignored; a missing one is an error)."""
        missing = sorted(self.placeholders - values.keys())
        if missing:
            raise ValueError(f"{self.source}: no value for {_names(frozenset(missing))}")
        return self.text.format_map({name: values[name] for name in self.placeholders})

    def record(self) -> dict[str, str]:
        """What a run records about the template: kind, path and sha256."""
        return {"kind": self.kind, "path": self.source, "sha256": self.sha256}


def load_template(path: str | Path | None, kind: TemplateKind) -> PromptTemplate | None:
    """:meth:`PromptTemplate.load`, or None for no path (our wording)."""
    return None if path is None else PromptTemplate.load(path, kind)


def resolve_system(system_prompt: str | None, default: str | None) -> str | None:
    """The system message text to send, or None for none: ``None`` -> ``default``, ``"none"`` -> None, else as is."""
    if system_prompt is None:
        return default
    return None if system_prompt == NO_SYSTEM else system_prompt


def _with_system(system: str | None, user: str) -> Chat:
    return ([{"role": "system", "content": system}] if system is not None else []) + [{"role": "user", "content": user}]


def tag_paragraphs(steps: Sequence[str]) -> str:
    """0-based ``<paragraph_i>`` blocks, each step as written, blocks separated by a blank line and the whole
    stripped: the ``{tagged_response}`` of the ProcessBench evaluation format."""
    return STEP_SEPARATOR.join(f"<paragraph_{i}>\n{s}\n</paragraph_{i}>" for i, s in enumerate(steps)).strip()


CriticStyle = Literal["deliberate", "processbench"]
CRITIC_STYLES: tuple[str, ...] = ("deliberate", "processbench")


@dataclass(frozen=True)
class CriticPrompt:
    """How a critic chat is built.

    ``style`` fixes the index base the critic answers in: ``deliberate`` = 1-based ``Step i:`` steps (tagged by
    ``step_tagging``), ``processbench`` = 0-based ``<paragraph_i>`` blocks. ``template`` None = our wording, else a
    ``critic`` template filled with ``{problem}`` and ``{tagged_response}``. ``system_prompt``: None = the default
    (our system prompt with our deliberate wording; no system message with our ProcessBench-style wording or with a
    template), ``"none"`` = no system message, any other text = that system message.
    """

    style: CriticStyle = "deliberate"
    template: PromptTemplate | None = None
    system_prompt: str | None = None
    step_tagging: StepTagging = "startswith"

    def __post_init__(self) -> None:
        if self.style not in CRITIC_STYLES:
            raise ValueError(f"critic prompt style must be one of {', '.join(CRITIC_STYLES)}, got {self.style!r}")
        if self.template is not None and self.template.kind != "critic":
            raise ValueError(f"{self.template.source}: a {self.template.kind} template is not a critic template")
        number_steps([], self.step_tagging)  # validates the rule

    @classmethod
    def from_settings(cls, style: CriticStyle = "deliberate", template: str | Path | None = None,
                      system_prompt: str | None = None, step_tagging: StepTagging = "startswith") -> CriticPrompt:
        """Build from config values (``template`` is a file path); TemplateError (one line) for a bad template."""
        return cls(style=style, template=load_template(template, "critic"), system_prompt=system_prompt,
                   step_tagging=step_tagging)

    @property
    def index_base(self) -> int:
        """1 when the critic answers a ``Step i`` number, 0 when it answers a paragraph index."""
        return 1 if self.style == "deliberate" else 0

    @property
    def system(self) -> str | None:
        """The system message this prompt sends (None: none)."""
        ours = CRITIC_SYSTEM if self.template is None and self.style == "deliberate" else None
        return resolve_system(self.system_prompt, ours)

    def tagged_response(self, steps: Sequence[str]) -> str:
        """The solution as a template's ``{tagged_response}``: numbered steps, or 0-based paragraph blocks."""
        if self.style == "processbench":
            return tag_paragraphs(steps)
        return join_steps(list(steps), self.step_tagging)

    def messages(self, problem: str, steps: list[str], tool_notes: str | None = None) -> Chat:
        """The chat for one solution; ``tool_notes`` (SymPy) only fit our deliberate wording."""
        if self.template is None:
            if self.style == "deliberate":
                user = critic_messages(problem, steps, tool_notes, self.step_tagging)[-1]["content"]
            else:
                if tool_notes:
                    raise ValueError("tool notes need the deliberate critic prompt")
                user = processbench_messages(problem, steps)[-1]["content"]
        else:
            if tool_notes:
                raise ValueError(f"{self.template.source}: a critic template has no place for SymPy tool notes")
            user = self.template.render(problem=problem, tagged_response=self.tagged_response(steps))
        return _with_system(self.system, user)

    def record(self) -> dict[str, object]:
        """What a run records: style, template (path, sha256) or ours, the system message sent, the tagging rule."""
        return {"style": self.style, "template": self.template.record() if self.template else None,
                "system": self.system, "step_tagging": self.step_tagging}


@dataclass(frozen=True)
class TeacherPrompts:
    """The three teacher prompts of seed synthesis: our wording, or ``initial`` / ``deep`` / ``merge`` templates.

    ``context``: the teacher sees the steps up to the judged one (``prefix``, ours) or the whole solution
    (``whole``, DeepCritic's scripts); it is the ``{solution}`` of a template, numbered ``Step i:`` by
    ``step_tagging``. ``examples`` fill a merge template's ``{example1}``, ``{example2}``. ``system_prompt`` as in
    :class:`CriticPrompt` (default: our teacher system prompt with our wording, none with a template).
    """

    initial: PromptTemplate | None = None
    deep: PromptTemplate | None = None
    merge: PromptTemplate | None = None
    system_prompt: str | None = None
    context: TeacherContext = "prefix"
    step_tagging: StepTagging = "startswith"
    examples: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.context not in TEACHER_CONTEXTS:
            raise ValueError(f"teacher context must be one of {', '.join(TEACHER_CONTEXTS)}, got {self.context!r}")
        for kind, template in (("initial", self.initial), ("deep", self.deep), ("merge", self.merge)):
            if template is not None and template.kind != kind:
                raise ValueError(f"{template.source}: a {template.kind} template given as the {kind} template")
        if self.merge is not None:
            for i in (1, 2):
                if f"example{i}" in self.merge.placeholders and len(self.examples) < i:
                    raise TemplateError(f"{self.merge.source}: the merge template uses {{example{i}}}: give "
                                        f"{i} example file(s) (merge_examples)")

    def _system(self, template: PromptTemplate | None) -> str | None:
        return resolve_system(self.system_prompt, TEACHER_SYSTEM if template is None else None)

    def _values(self, problem: str, steps: list[str], step1: int) -> dict[str, object]:
        shown = steps if self.context == "whole" else steps[:step1]
        examples = {f"example{i}": text for i, text in enumerate(self.examples, 1)}
        return {"problem": problem, "solution": join_steps(shown, self.step_tagging), "step_index": step1, **examples}

    def initial_messages(self, problem: str, steps: list[str], step1: int) -> Chat:
        """Chat asking the teacher for the initial critique of step ``step1`` (1-based) of ``steps`` (our wording, or
        the ``initial`` template)."""
        if self.initial is None:
            user = initial_step_critique_messages(problem, steps, step1, self.context)[-1]["content"]
        else:
            user = self.initial.render(**self._values(problem, steps, step1))
        return _with_system(self._system(self.initial), user)

    def deep_messages(self, problem: str, steps: list[str], step1: int, initial_critique: str) -> Chat:
        """Chat asking the teacher to re-verify step ``step1`` (1-based) another way, given its ``initial_critique``
        (our wording, or the ``deep`` template)."""
        if self.deep is None:
            user = deep_verification_messages(problem, steps, step1, initial_critique, self.context)[-1]["content"]
        else:
            user = self.deep.render(original_critique=initial_critique, **self._values(problem, steps, step1))
        return _with_system(self._system(self.deep), user)

    def merge_messages(self, problem: str, steps: list[str], step1: int, initial_critique: str,
                       deep_critique: str) -> Chat:
        """Chat asking the teacher to merge the initial and the deep critique of step ``step1`` (1-based) into one
        deliberate critique (our wording, or the ``merge`` template with its examples)."""
        if self.merge is None:
            user = merge_critique_messages(problem, steps, step1, initial_critique, deep_critique,
                                           self.context)[-1]["content"]
        else:
            user = self.merge.render(original_critique=initial_critique, critique_of_original_critique=deep_critique,
                                     **self._values(problem, steps, step1))
        return _with_system(self._system(self.merge), user)

    def record(self) -> dict[str, object]:
        """What a run records: each stage's template (kind, path, sha256) or None for ours, the system prompt setting,
        the context, the tagging rule and how many merge examples."""
        return {
            stage: template.record() if template else None
            for stage, template in (("initial", self.initial), ("deep", self.deep), ("merge", self.merge))
        } | {"system_prompt": self.system_prompt, "context": self.context, "step_tagging": self.step_tagging,
             "examples": len(self.examples)}


@dataclass(frozen=True)
class GeneratorPrompt:
    """The solver prompt (mc-label): our wording or a ``generator`` template (``{problem}``), and a system message
    (None = ours with our wording, none with a template; ``"none"`` = none; else the text). The chat ends with the
    assistant prefix ``Step 1:`` like :func:`solve_messages`."""

    template: PromptTemplate | None = None
    system_prompt: str | None = None

    def messages(self, problem: str) -> Chat:
        """The solver chat for ``problem``: system message (if any), the user turn, and the assistant prefix ``Step
        1:`` the engine continues."""
        if self.template is None:
            user = solve_messages(problem)[1]["content"]
        else:
            user = self.template.render(problem=problem)
        system = resolve_system(self.system_prompt, GENERATOR_SYSTEM if self.template is None else None)
        return _with_system(system, user) + [{"role": "assistant", "content": SOLVE_PREFIX}]

    def record(self) -> dict[str, object]:
        """What a run records: the template (kind, path, sha256) or None for ours, and the system message sent."""
        return {"template": self.template.record() if self.template else None,
                "system": resolve_system(self.system_prompt, GENERATOR_SYSTEM if self.template is None else None)}


class CriticPromptSettings(StrictConfig):
    """The critic prompt as config keys (deliberate style): a template file, the system message, the Step i tagging
    rule. Base of every config that runs a critic on our prompt (agent.config.LoopConfig, eval refine and tts)."""

    prompt_template: str | None = Field(
        None, description="critic template file: str.format text with {problem} and {tagged_response} (doubled braces "
                          "for literal ones); None = our wording", json_schema_extra={"metavar": "FILE"})
    system_prompt: str | None = Field(
        None, description="critic system message; 'none' = no system message (the model's chat template decides); "
                          "None = ours with our wording, none with a template",
        json_schema_extra={"metavar": "TEXT|none"})
    step_tagging: StepTagging = Field(
        "startswith", description="'Step i: ' prefix unless a step starts with it (startswith) / contains 'Step ' "
                                  "(contains, DeepCritic's rule)")

    def critic_prompt(self) -> CriticPrompt:
        """The critic's prompt (deliberate style); TemplateError (one line) for an unreadable or unfit template."""
        return CriticPrompt.from_settings("deliberate", self.prompt_template, self.system_prompt, self.step_tagging)

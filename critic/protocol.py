"""Evaluation protocols as data: ours, and the two published reference protocols a critic's numbers are compared with.

A protocol fixes everything between a labelled solution and a score besides the model: the prompt style (index base
and step tagging), the system message, the decoding of each mode (greedy, sampled pass@1, maj@k), how an answer is
read from the critique (``extraction``), and which samples may vote in maj@k (``vote_filter``).

Sources of the reference values (read from the public repositories, code not copied):

* ``deepcritic``: RUCBM/DeepCritic ``ProcessBench/code/eval.py`` (commit 6a0cde9): pass@1 samples once at
  temperature 0.6, top_p 0.9, 32768 tokens, seed 42; ``--use_voting`` samples 8 at 1.0 / 0.9; the user prompt is the
  template ``ProcessBench/code/templates/critique_template_new.txt`` with no system message (Qwen2.5's chat template
  then inserts its default); a step gets ``Step i: `` unless it contains ``"Step "``; the answer is the last
  ``\\boxed{...}`` read as an int, a 1-based step; for DeepCritic models only critiques containing ``**Answer**:``
  vote.
* ``processbench``: QwenLM/ProcessBench ``code/run_eval.py`` (commit e802463): greedy, 8192 tokens (32768 for
  long-CoT models such as QwQ: pass ``--max-tokens 32768``), seed 42; voting samples 8 at 1.0 / 0.9; the template
  ``code/templates/critique_template.txt`` fed 0-based ``<paragraph_i>`` blocks, no system message; the answer is the
  last ``\\boxed{...}`` read as an int, a 0-based paragraph index; every sample with a box votes.

The reference rule for reading an answer (:func:`reference_box`) takes the content of the last ``\\boxed{`` up to the
first ``}`` after it, stripped; ``int()`` of it is the answer, and a box that is not an int is no answer (but in maj@k
it still votes, as its string, and wins nothing). Our rules are :func:`critic.parse.parse_critique` /
:func:`critic.parse.parse_processbench` (balanced braces, decorated boxes, Answer marker, judgement lines).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from critic.engines.base import FinishReason
from critic.prompts import CriticStyle
from critic.records import NO_ERROR, Critique
from critic.steps import StepTagging, label0_to_step1

ProtocolName = Literal["ours", "deepcritic", "processbench"]
PROTOCOL_NAMES: tuple[str, ...] = ("ours", "deepcritic", "processbench")
Extraction = Literal["ours", "reference"]
VoteFilter = Literal["none", "answer_marker"]
Decoding = Literal["greedy", "sample", "maj"]

ANSWER_MARKER = "**Answer**:"  # the marker DeepCritic's vote filter looks for, verbatim
# The reference scripts' box rule: "\boxed{" then everything up to the first "}" (no nesting), last match wins.
_REFERENCE_BOX = re.compile(r"\\boxed\{([^}]*)\}")
_MAX_INT_CHARS = 64  # a longer box is not a step index; int() of it is never attempted


class DecodingPreset(BaseModel):
    """The sampling of one decoding mode (k = samples per solution)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float
    top_p: float = 1.0
    max_tokens: int
    k: int = 1
    seed: int | None = 0


class Protocol(BaseModel):
    """One evaluation protocol (see the module docstring for sources)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    prompt: CriticStyle
    step_tagging: StepTagging
    system_prompt: str | None = Field(description="None = the wording's default; 'none' = no system message")
    extraction: Extraction
    vote_filter: VoteFilter
    decoding: Decoding = Field(description="the mode a run uses when none is given")
    modes: dict[str, DecodingPreset]
    source: str

    def fields(self, decoding: str | None = None) -> dict[str, object]:
        """Config values this protocol sets for ``decoding`` (its default mode when None): prompt, step_tagging,
        system_prompt, extraction, vote_filter, decoding, k, temperature, top_p, max_tokens, seed."""
        mode = decoding or self.decoding
        if mode not in self.modes:
            raise ValueError(f"protocol {self.name} has no {mode} decoding (it has {', '.join(self.modes)})")
        preset = self.modes[mode]
        return {
            "prompt": self.prompt,
            "step_tagging": self.step_tagging,
            "system_prompt": self.system_prompt,
            "extraction": self.extraction,
            "vote_filter": self.vote_filter,
            "decoding": mode,
            "k": preset.k,
            "temperature": preset.temperature,
            "top_p": preset.top_p,
            "max_tokens": preset.max_tokens,
            "seed": preset.seed,
        }


PROTOCOLS: dict[str, Protocol] = {
    "ours": Protocol(
        name="ours",
        prompt="deliberate",
        step_tagging="startswith",
        system_prompt=None,
        extraction="ours",
        vote_filter="none",
        decoding="greedy",
        modes={
            "greedy": DecodingPreset(temperature=0.0, max_tokens=2048),
            "sample": DecodingPreset(temperature=0.7, max_tokens=2048),
            "maj": DecodingPreset(temperature=0.7, max_tokens=2048, k=8),
        },
        source="this project's defaults (DESIGN.md §2)",
    ),
    "deepcritic": Protocol(
        name="deepcritic",
        prompt="deliberate",
        step_tagging="contains",
        system_prompt="none",
        extraction="reference",
        vote_filter="answer_marker",
        decoding="sample",
        modes={
            "sample": DecodingPreset(temperature=0.6, top_p=0.9, max_tokens=32768, seed=42),
            "maj": DecodingPreset(temperature=1.0, top_p=0.9, max_tokens=32768, k=8, seed=42),
        },
        source="RUCBM/DeepCritic ProcessBench/code/eval.py @ 6a0cde9",
    ),
    "processbench": Protocol(
        name="processbench",
        prompt="processbench",
        step_tagging="startswith",  # unused: paragraphs are tagged <paragraph_i>
        system_prompt="none",
        extraction="reference",
        vote_filter="none",
        decoding="greedy",
        modes={
            "greedy": DecodingPreset(temperature=0.0, max_tokens=8192, seed=42),
            "maj": DecodingPreset(temperature=1.0, top_p=0.9, max_tokens=8192, k=8, seed=42),
        },
        source="QwenLM/ProcessBench code/run_eval.py @ e802463",
    ),
}


def get_protocol(name: str) -> Protocol:
    """The preset named ``name`` (one of :data:`PROTOCOLS`); ValueError (one line) for any other name."""
    if name not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {name!r}")
    return PROTOCOLS[name]


def reference_box(text: str) -> str | None:
    """The reference scripts' answer string: the content of the last ``\\boxed{...}`` (up to the first ``}``, so
    ``\\boxed{\\text{3}}`` gives ``\\text{3``), stripped; None without a box."""
    last = None
    for m in _REFERENCE_BOX.finditer(text if isinstance(text, str) else str(text)):
        last = m.group(1)
    return None if last is None else last.strip()


def reference_int(box: str | None) -> int | None:
    """``int()`` of a reference answer string (``" 3"``, ``"+3"``, ``"-1"``); None when it is not an int."""
    if box is None or len(box) > _MAX_INT_CHARS:
        return None
    try:
        return int(box)
    except ValueError:
        return None


def has_answer_marker(text: str) -> bool:
    """DeepCritic's vote filter: only critiques containing ``**Answer**:`` (verbatim) vote in maj@k."""
    return ANSWER_MARKER in text


def parse_reference(text: str, num_steps: int, finish_reason: FinishReason = "stop", *,
                    index_base: int = 1) -> Critique:
    """A critique read by the reference rule: the last box's int, in ``index_base`` (1: ``Step i``, 0: paragraph).

    Status ``ok`` when that int is -1 or a step of the solution; otherwise ``unparsed`` (``truncated`` when the
    generation hit its token limit). An int outside the solution is a wrong answer in the reference scripts; here it
    is unreadable, which scores the same (wrong) and is counted in ``unparsed``. Never raises.
    """
    value = reference_int(reference_box(text))
    first = None
    if value == NO_ERROR:
        first = NO_ERROR
    elif value is not None and index_base == 1 and 1 <= value <= num_steps:
        first = value
    elif value is not None and index_base == 0 and 0 <= value < num_steps:
        first = label0_to_step1(value)
    raw = text if isinstance(text, str) else str(text)
    if first is None:
        return Critique(status="truncated" if finish_reason == "length" else "unparsed", raw=raw)
    return Critique(status="ok", first_wrong_step1=first, raw=raw)

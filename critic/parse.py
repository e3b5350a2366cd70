"""Critic text -> :class:`~critic.records.Critique`.

The trained format (see :func:`critic.prompts.format_critique`) is one block per step, each headed
``**Critique of Step i**`` and closed by ``**Judgement**: \\boxed{1}`` (correct) or ``\\boxed{-1}`` (wrong), and a final
``**Answer**: \\boxed{k}`` (1-based first wrong step) or ``\\boxed{-1}`` (all correct).

Rules, in order:

* The final judgment is the last ``\\boxed{}`` after the final "Answer" marker. Without any marker it is the last
  ``\\boxed{}`` of the text, unless that box is a step's judgement: a critique cut off right after
  ``**Judgement**: \\boxed{-1}`` must not read as "accepts every step".
* Box contents tolerate spacing and decoration: ``\\boxed{ 3 }``, ``\\boxed{Step 3}``, ``\\boxed{\\text{3}}``.
* No readable answer, a non-integer, ``0``, an index beyond the steps or below ``-1`` -> status ``unparsed``; when the
  generation stopped on its token limit (``finish_reason == "length"``) and nothing was readable -> ``truncated``.
* Nothing here raises, whatever the text: every public function returns a record (the tests feed it random strings).
"""

from __future__ import annotations

import re

from critic.records import NO_ERROR, Critique, StepVerdict, Verdict
from critic.steps import label0_to_step1

# Each pattern below consumes decoration one character per repetition, so no input backtracks exponentially.
_BOXED = re.compile(r"\\boxed[ \t]*\{")
# An "Answer" label: "**Answer**:", "**Answer:**", "Answer -", "Final answer =", "## Answer" + newline, "Answer \boxed".
_ANSWER_MARKER = re.compile(r"(?i)\banswer\b(?:[ \t*_]*)(?:[:\-\u2013\u2014=]|\n|(?=\\boxed))")
_ANSWER_LABEL = re.compile(r"(?i)\banswer\b")
# "**Judgement**: \boxed{..}", "Judgment - \boxed{..}" (both spellings), on one line.
_JUDGEMENT_MARKER = re.compile(r"(?i)\bjudge?ment\b")
# A step heading at a line start: "**Critique of Step 3**", "### Critique of Step 3:", "Critique of step 3". Only the
# heading and its decoration are consumed; text on the same line after it belongs to the critique.
_STEP_HEADING = re.compile(r"(?im)^[ \t]*(?:[#*_>][ \t]*)*critique[ \t]+of[ \t]+step[ \t]*(\d{1,6})\b[ \t*_:.)]*")
# Decoration that may wrap an index inside a box: \text{..}, \mathrm{..}, \textbf{..}, \mathbf{..}.
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textit|mbox)[ \t]*\{([^{}]*)\}")
_INDEX_WORDS = re.compile(r"(?i)^(?:step|paragraph|para)[ \t_~]*")
_INTEGER = re.compile(r"[+-]?\d{1,6}")
_MAX_BOX_CHARS = 200  # box contents longer than this are prose, never an index
_LABEL_LOOKBACK = 160  # how far before a box its "Judgement"/"Answer" label may start


def _matching_braces(text: str) -> dict[int, int]:
    """Position of each "{" -> position of its "}" (unclosed ones absent), in one pass; a backslash escapes the next
    character, so ``\\{`` and ``\\}`` do not count."""
    match: dict[int, int] = {}
    stack: list[int] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            stack.append(i)
        elif c == "}" and stack:
            match[stack.pop()] = i
        i += 1
    return match


def boxed_spans(text: str) -> list[tuple[int, int, str]]:
    """Every ``\\boxed{...}`` with balanced braces: ``(start, end, content)``; unbalanced ones are skipped."""
    opens = list(_BOXED.finditer(text))
    if not opens:
        return []
    match = _matching_braces(text)
    found: list[tuple[int, int, str]] = []
    for m in opens:
        close = match.get(m.end() - 1)
        if close is not None:
            found.append((m.start(), close + 1, text[m.end() : close]))
    return found


def last_boxed(text: str) -> str | None:
    """Content of the last balanced ``\\boxed{}`` in the text, or None."""
    spans = boxed_spans(text)
    return spans[-1][2] if spans else None


def _unwrap(content: str) -> str:
    for _ in range(4):  # nested wrappers such as \textbf{\text{3}}
        content = _TEXT_WRAPPER.sub(r"\1", content)
    return content


def box_integer(content: str) -> int | None:
    """The integer a box holds (``3``, `` 3 ``, ``Step 3``, ``\\text{3}``, ``paragraph_2``, ``−1``), else None."""
    if len(content) > _MAX_BOX_CHARS:
        return None
    s = _unwrap(content).replace("\u2212", "-").replace("$", "").replace("\\,", "").replace("\\ ", "").replace("~", " ")
    s = s.strip().strip("{}").strip().rstrip(".").strip()
    s = _INDEX_WORDS.sub("", s)
    s = re.sub(r"\s+", "", s)
    return int(s) if _INTEGER.fullmatch(s) else None


def _last_match_start(pattern: re.Pattern[str], text: str, start: int, end: int) -> int:
    last = -1
    for m in pattern.finditer(text, start, end):
        last = m.start()
    return last


def _is_judgement_box(text: str, box_start: int) -> bool:
    """True when the nearest label before the box on its line is "Judgement" (not "Answer")."""
    # The label sits just before its box; a bounded look-back keeps many boxes on one long line linear.
    line_start = max(text.rfind("\n", 0, box_start) + 1, box_start - _LABEL_LOOKBACK)
    judgement_at = _last_match_start(_JUDGEMENT_MARKER, text, line_start, box_start)
    return judgement_at >= 0 and judgement_at > _last_match_start(_ANSWER_LABEL, text, line_start, box_start)


def _final_box(text: str, last_heading_end: int | None = None) -> str | None:
    """The box holding the final judgment, by the rules in the module docstring.

    ``last_heading_end``: where the last "Critique of Step i" heading ends, if any. Without an Answer marker, a box
    counts only when that last step block was closed by its judgement before it: inside an unfinished block a box is
    the step's own math (``\\boxed{11}``), not a verdict.
    """
    spans = boxed_spans(text)
    if not spans:
        return None
    markers = list(_ANSWER_MARKER.finditer(text))
    if markers:
        after = [s for s in spans if s[0] >= markers[-1].start() and not _is_judgement_box(text, s[0])]
        if after:
            return after[-1][2]
    start, _, content = spans[-1]
    if _is_judgement_box(text, start):
        return None
    if last_heading_end is not None and not any(
        last_heading_end <= s[0] < start and _is_judgement_box(text, s[0]) for s in spans
    ):
        return None
    return content


def _verdict_value(content: str) -> Verdict | None:
    value = box_integer(content)
    if value == 1:
        return "correct"
    if value == -1:
        return "wrong"
    if len(content) > _MAX_BOX_CHARS:
        return None
    word = re.sub(r"[^a-z]", "", _unwrap(content).lower())
    if word in {"correct", "right", "true"}:
        return "correct"
    if word in {"incorrect", "wrong", "false"}:
        return "wrong"
    return None


def _judgement(block: str) -> tuple[Verdict | None, int]:
    """The verdict in a step block and where its judgement line starts (``len(block)`` when there is none)."""
    for start, _, content in reversed(boxed_spans(block)):
        if _is_judgement_box(block, start):
            line_start = block.rfind("\n", 0, start) + 1
            return _verdict_value(content), line_start
    return None, len(block)


def step_verdicts(text: str, num_steps: int | None = None) -> list[StepVerdict]:
    """Per-step verdicts from "Critique of Step i" blocks and their judgement boxes, in order of appearance.

    A block without a readable judgement, a repeated step number or (when ``num_steps`` is given) a step outside
    ``1..num_steps`` gives no verdict. ``text`` of each verdict is the reasoning between heading and judgement.
    """
    return _verdicts(text, list(_STEP_HEADING.finditer(text)), num_steps)


def _verdicts(text: str, headings: list[re.Match[str]], num_steps: int | None) -> list[StepVerdict]:
    markers = list(_ANSWER_MARKER.finditer(text))
    answer_at = markers[-1].start() if markers else len(text)
    verdicts: list[StepVerdict] = []
    seen: set[int] = set()
    for h, nxt in zip(headings, headings[1:] + [None]):
        end = nxt.start() if nxt else len(text)
        if h.end() <= answer_at < end:
            end = answer_at
        step1 = int(h.group(1))
        if step1 in seen or step1 < 1 or (num_steps is not None and step1 > num_steps):
            continue
        block = text[h.end() : end]
        verdict, judgement_at = _judgement(block)
        if verdict is None:
            continue
        seen.add(step1)
        verdicts.append(StepVerdict(step1=step1, verdict=verdict, text=block[:judgement_at].strip()))
    return verdicts


def critique_body(text: str) -> str:
    """A step critique without its own heading and its judgement line (what a trained-format block wraps)."""
    body = text.strip()
    heading = _STEP_HEADING.match(body)
    if heading:
        body = body[heading.end() :]
    _, judgement_at = _judgement(body)
    return body[:judgement_at].strip()


def _unreadable(text: str, finish_reason: str, verdicts: list[StepVerdict]) -> Critique:
    status = "truncated" if finish_reason == "length" else "unparsed"
    return Critique(status=status, first_wrong_step1=None, verdicts=verdicts, raw=text)


def parse_critique(text: str, num_steps: int, finish_reason: str = "stop") -> Critique:
    """Parse a deliberate (1-based) critique. Never raises."""
    text = text if isinstance(text, str) else str(text)
    headings = list(_STEP_HEADING.finditer(text))
    verdicts = _verdicts(text, headings, num_steps)
    content = _final_box(text, headings[-1].end() if headings else None)
    answer = None if content is None else box_integer(content)
    if answer is None or not (answer == NO_ERROR or 1 <= answer <= num_steps):
        return _unreadable(text, finish_reason, verdicts)
    return Critique(status="ok", first_wrong_step1=answer, verdicts=verdicts, raw=text)


def parse_processbench(text: str, num_steps: int, finish_reason: str = "stop") -> Critique:
    """Parse a ProcessBench-style answer: a 0-based paragraph index (or -1) in the final ``\\boxed{}``.

    The result speaks 1-based like every Critique (``first_wrong_step1``). Never raises.
    """
    text = text if isinstance(text, str) else str(text)
    content = _final_box(text)
    label0 = None if content is None else box_integer(content)
    if label0 is None or not (label0 == NO_ERROR or 0 <= label0 < num_steps):
        return _unreadable(text, finish_reason, [])
    return Critique(status="ok", first_wrong_step1=label0_to_step1(label0), raw=text)


def parse_step_judgement(text: str) -> Verdict | None:
    """One step's verdict from a teacher's output: the judgement box (``\\boxed{1}`` correct, ``\\boxed{-1}`` wrong),
    else the last box of the text; None when neither is readable. Never raises."""
    text = text if isinstance(text, str) else str(text)
    verdict, _ = _judgement(text)
    if verdict is not None:
        return verdict
    content = last_boxed(text)
    return None if content is None else _verdict_value(content)

"""Final answers: read them from model text and decide whether two answers are the same.

Reading (:func:`extract_answer`), in order:

1. **Boxes.** The last ``\\boxed{}`` (or ``\\fbox{}``), joined with the boxes just before it when only a connector
   separates them (``,``, ``;``, "and", "or", LaTeX spacing, maths delimiters, a short label such as ``x =``, and at
   most three other words): ``$x=\\boxed{3}$, $x=\\boxed{5}$ and $x=\\boxed{7}$`` -> ``3, 5, 7``. Boxes with a
   sentence between them are intermediate results; the last one stands alone. An answer phrase (2.) after the last
   box whose value holds a number or maths overrides the boxes ("... \\boxed{255}. The final answer is $10,455$.").
2. **An answer phrase**, the last one in the text: ``#### x`` (GSM8K), "the (final) answer is x", "Answer: x",
   "answer = x", "Answer $x$". The value ends at the end of its sentence or line; a leading maths span is taken
   whole; a label sentence gives what follows its last "is" ("Final Answer: The largest $n$ is 34." -> ``34``), or
   else its last maths span or number ("Final Answer: Jane started 3 hours ago." -> ``3``); trailing prose after a
   comma is dropped ("72, in total, so ..." -> ``72``).
3. Only with ``lenient=True``: a short text that is not prose is itself the answer (``1,22``, ``\\frac{10}{9}``);
   else the later of the text's last maths span (``$..$``, ``$$..$$``, ``\\(..\\)``, ``\\[..\\]``, joined with its
   neighbours by the rule of 1.) and its last number outside maths. For texts that *are* an answer
   statement (a gold field, a peer test's prediction); never for whole solutions, where it would grade an
   intermediate value (``agent.solve.final_answer`` scans steps backwards and needs ``None`` from a step that
   states no answer).

Equivalence (:func:`answers_match`) is symmetric: ``answers_match(a, b) == answers_match(b, a)``. In order:

1. Normalised strings (``\\dfrac`` = ``\\frac``, ``\\left(`` = ``(``, spacing, ``^\\circ``, ``\\$``; a percent sign is
   dropped, so ``28\\%`` = ``28`` as in math-verify).
2. **Exact numbers** (:func:`exact_number`): integers, decimals, thousands separators (``1,000``, ``1{,}000``;
   a group after the first is exactly three digits and the first has no leading zero, so ``0,111`` and ``1,22``
   are not numbers), ``\\frac``, ``a/b``, powers (``2^{98}``), scientific notation (``2\\cdot 10^{-20}``,
   ``2e-20``), currency, unit and other trailing words ("5 apples"; never words that change the value: "2 pi",
   "4 hundred", "3 squared"). Two exact numbers are equal only when their exact values are, with one
   allowance: a decimal written with at least six significant digits also equals an exact value that it rounds or
   truncates (``0.0833333333333333`` = ``\\frac{1}{12}``; ``0.33`` != ``\\frac13``).
3. **Plain-text maths** (``pi/2``, ``-2*pi``, ``sqrt(2)/2``, ``x**2``) is rewritten to LaTeX by a whitelist (numbers,
   one-letter variables, ``pi``, ``sqrt``, ``inf``, Greek letter names, ``+ - * / ^ ( ) [ ] , = < >``); text with any
   other word is left as it is.
4. **math-verify** (symbolic equivalence with SymPy) on both answers, LaTeX extraction only, in a
   :mod:`critic.timebox` worker subprocess (a hard bound from any thread or event loop; math-verify's own
   ``signal.alarm`` timeouts are switched off). It is asked both ways round (each answer, taken as the gold,
   must accept the other), with set-relation comparison on: an interval and the relation it solves match in either
   order (``x<3`` and ``(-\\infty, 3)``), while ``a + 3z = 0`` and ``0`` match in neither. A "same" verdict on
   two numeric values is then confirmed by a relative comparison (30 digits; relative error at most 1e-6 when a
   decimal is involved, else 1e-12): math-verify's own numeric fallback chops absolute differences below 1e-15,
   which would make ``\\frac{1}{2^{98}}`` equal ``\\frac{1}{2^{99}}``.

math-verify is not free of ``sympify``: latex2sympy2_extended turns every number literal into ``sympy.Number(str)``,
which goes through ``sympify``/``parse_expr``. Its lexer limits that string to number characters, so no code runs,
but a literal such as ``1E999999999`` (or ``9^{9^{9}}``, ``\\binom{10^8}{5\\cdot 10^7}``, many juxtaposed ``|x|``)
hangs the worker until its timeout. So answers are screened first (:func:`screen`): length, digits per number,
exponent sizes, nested numeric powers, big arguments of ``!``/``\\binom``/``\\Gamma``, brace depth and ``|`` count.
A screened-out answer matches nothing (it is not graded, and no worker time is spent on it).
"""

from __future__ import annotations

import re
from fractions import Fraction

from critic.boxed import boxed_spans
from critic.verify.values import parse_plain_number

__all__ = ["answers_match", "exact_number", "extract_answer", "grade_text", "gsm8k_gold", "math_gold", "screen",
           "to_latex"]

MAX_ANSWER_CHARS = 2000  # longer "answers" are prose: never equal to anything
MAX_VERIFY_CHARS = 1000  # longest answer handed to math-verify
MAX_DIGITS = 100  # digits in one number literal handed to math-verify
MAX_EXPONENT = 10_000  # |k| in 10^{k}, 2^{k}, 1e{k}
_SPAN_CHARS = 400  # how far after an answer phrase its value may reach

# --- reading: boxes ---------------------------------------------------------------------------------------------

# What may stand between two boxes (or maths spans) of one answer. Each alternative consumes at least one character
# and they do not overlap, so matching is linear.
_GAP_TOKEN = re.compile(
    r"\s+|[,;$&~]|\\[()\[\]]|\\(?:q?quad|[,;:! ]|hspace\{[^{}]*\})|\\(?:text|textnormal|mbox|mathrm)\s*\{([^{}]*)\}"
    r"|([A-Za-z]\w*(?:_\{?\w+\}?)?)\s*=|\(\w{1,3}\)|[A-Za-z]+\.?"
)
_CONNECTOR_WORDS = {"and", "or"}
_MAX_GAP = 80
_MAX_GAP_WORDS = 3


def _joins(gap: str) -> bool:
    """True when ``gap`` is only connector material: the boxes on either side belong to one answer."""
    if len(gap) > _MAX_GAP:
        return False
    words: list[str] = []
    connector = not gap.strip(" \t\n$\\()[]")  # nothing but spacing and delimiters also joins
    pos = 0
    while pos < len(gap):
        m = _GAP_TOKEN.match(gap, pos)
        if m is None:
            return False
        token = m.group(0)
        if m.group(1) is not None:  # \text{ and }: its words count
            inner = m.group(1).split()
            if any(not re.fullmatch(r"[A-Za-z.,;()]+", w) for w in inner):
                return False
            words += [w.strip(".,;").lower() for w in inner if w.strip(".,;")]
            connector = connector or any(c in m.group(1) for c in ",;")
        elif m.group(2) is not None:  # a label "x =" right before the next box
            pass
        elif token in {",", ";", "&"}:
            connector = True
        elif token[0].isalpha() or token[0] == "(":
            words.append(token.rstrip(".").lower())
        pos = m.end()
    connector = connector or any(w in _CONNECTOR_WORDS for w in words)
    others = [w for w in words if w not in _CONNECTOR_WORDS]
    return connector and len(others) <= _MAX_GAP_WORDS


def _joined(spans: list[tuple[int, int, str]], text: str) -> str:
    """The last span's content, joined with the spans before it that :func:`_joins` links to it."""
    parts = [spans[-1][2].strip()]
    for (_, prev_end, prev_content), (start, _, _) in zip(reversed(spans[:-1]), reversed(spans[1:])):
        if prev_end > start or not _joins(text[prev_end:start]):  # a nested box is part of its outer one
            break
        parts.append(prev_content.strip())
    return ", ".join(p for p in reversed(parts) if p)


def boxed_answer(text: str) -> str | None:
    """The answer the boxes of a text state (rule 1 of the module docstring), or None without a closed box."""
    spans = boxed_spans(text)
    return (_joined(spans, text) or None) if spans else None


# --- reading: answer phrases ------------------------------------------------------------------------------------

_ANSWER_PHRASE = re.compile(
    r"(?i)(?P<hashes>####)[ \t]*"
    r"|\b(?:final[ \t]+)?answer\b[ \t*_]*(?:"
    r"(?P<is>(?:is|was|(?:will|would|should)[ \t]+be)\b)[ \t*_]*[:：]?"
    r"|(?P<label>[:：=])"
    r"|(?=\$|\\[(\[]))"
)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n|<\|")
_TRAILING_PROSE = re.compile(r",\s+(?!(?:and|or)\b)[A-Za-z]{2,}\b")
_IS = re.compile(r"\b(?:is|are|equals|was)\b")
_MATH_OPEN = {"$$": "$$", "$": "$", "\\(": "\\)", "\\[": "\\]"}
_MATH_DELIM = re.compile(r"\\[()\[\]]|\\.|\$\$|\$", re.DOTALL)


def math_spans(text: str) -> list[tuple[int, int, str]]:
    """Every closed maths span ``$..$``, ``$$..$$``, ``\\(..\\)``, ``\\[..\\]``: ``(start, end, content)``, one pass.

    An escaped dollar (``\\$``) is content; an inline ``$..$`` does not cross a blank line."""
    found: list[tuple[int, int, str]] = []
    open_at: int | None = None
    closer = ""
    inner_start = blank = 0  # blank: the first blank line after an opening "$" (-1: none)
    next_blank = 0  # cached search result, so the whole scan stays linear
    for m in _MATH_DELIM.finditer(text):
        tok = m.group(0)
        crossed = open_at is not None and closer == "$" and 0 <= blank < m.start()
        if open_at is None or (crossed and tok in _MATH_OPEN):  # an inline "$" cut by a blank line never closed
            if tok in _MATH_OPEN:
                open_at, closer, inner_start = m.start(), _MATH_OPEN[tok], m.end()
                if 0 <= next_blank < inner_start:
                    next_blank = text.find("\n\n", inner_start)
                blank = next_blank if closer == "$" else -1
            else:
                open_at = None
        elif tok == closer:
            if not crossed:
                found.append((open_at, m.end(), text[inner_start:m.start()]))
            open_at = None
    return found


def _prose(s: str) -> bool:
    """True when ``s`` reads as a sentence: two or more words of three or more letters outside maths and commands."""
    masked = _mask_math(s)
    return len(re.findall(r"(?<![\\A-Za-z])[A-Za-z]{3,}", masked)) >= 2


def _mask_math(s: str) -> str:
    """``s`` with every maths span blanked out (same length, so positions still hold)."""
    parts, pos = [], 0
    for start, end, _ in math_spans(s):
        parts += [s[pos:start], " " * (end - start)]
        pos = end
    return "".join(parts) + s[pos:]


def _last_value(text: str) -> str | None:
    """The later of the last maths span (joined with its neighbours) and the last number outside maths."""
    spans = math_spans(text)
    numbers = list(_NUMBER.finditer(_mask_math(text)))
    if numbers and (not spans or numbers[-1].start() >= spans[-1][1]):
        return numbers[-1].group(0)
    return (_joined(spans, text) or None) if spans else None


def _phrase_value(text: str, m: re.Match[str]) -> str | None:
    rest = text[m.end():m.end() + _SPAN_CHARS].lstrip(" \t*_:")
    rest = rest.lstrip("\n").lstrip(" \t*_")
    spans = math_spans(rest)
    if spans and spans[0][0] == 0:  # "Answer: $x$", "The answer is \\(x\\)": the maths span is the value
        return spans[0][2].strip() or None
    cut = _SENTENCE_END.search(_mask_math(rest))
    value = rest[:cut.start()] if cut else rest
    if m.group("is") is None and m.group("hashes") is None:  # a label: "Answer:", "Final Answer:", "answer ="
        said = list(_IS.finditer(_mask_math(value)))
        if said:  # "Final Answer: The largest $n$ is 34." -> "34"
            value = value[said[-1].end():]
        if _prose(value):  # "Final Answer: Jane started growing Sphere 3 hours ago." -> "3"
            return _last_value(value)
    inner = math_spans(value)
    if inner and not any(c.isdigit() for c in _mask_math(value)[:inner[0][0]]):  # "about $3.5$" -> "3.5"
        value = _joined(inner, value)
    else:
        trailing = _TRAILING_PROSE.search(value)
        if trailing:
            value = value[:trailing.start()]
        value = re.sub(r"(?<!\\)\$", "", value)  # maths delimiters; an escaped dollar stays
    value = value.strip().rstrip(".").strip()
    return value or None


def phrase_answer(text: str) -> tuple[str, int] | None:
    """The value after the last answer phrase (rule 2 of the module docstring) and where that phrase starts."""
    last = None
    for m in _ANSWER_PHRASE.finditer(text):
        last = m
    if last is None:
        return None
    value = _phrase_value(text, last)
    return None if value is None else (value, last.start())


# a number in prose: not the tail of a word ("AZYUK2A"); units may follow ("1,000.99m²")
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?(?![\d/])"
                     r"|(?<![\w.])[-+]?\.\d+(?!\d)")


def extract_answer(text: str | None, *, lenient: bool = False) -> str | None:
    """The final answer a text states, by the rules of the module docstring; None when it states none.

    An answer phrase after the last box, with a number or maths in its value, overrides the box (boxes of
    intermediate results, then "The final answer is $10,455$."). ``lenient``: also read a text without a stated
    answer (rule 3): a short text that is not prose is itself the answer; else its last maths span or number.
    Never raises.
    """
    if not text:
        return None
    text = str(text)
    spans = boxed_spans(text)
    answer = (_joined(spans, text) or None) if spans else None
    phrase = phrase_answer(text)
    if phrase is not None:
        value, at = phrase
        if answer is None or (at >= spans[-1][1] and (re.search(r"\d", value) or "\\" in value)):
            answer = value
    if answer is None and lenient:
        bare = text.strip()
        if len(bare) <= 100 and not math_spans(bare) and not _prose(bare):
            return bare or None
        answer = _last_value(text)
    return answer


def gsm8k_gold(answer_field: str) -> str:
    """The gold answer of a GSM8K row's ``answer`` field (the text after ``####``, commas removed)."""
    m = re.search(r"####\s*(.+)", answer_field)
    if m is None:
        raise ValueError("GSM8K answer field has no '####' line")
    return m.group(1).strip().replace(",", "")


def math_gold(solution: str) -> str:
    """The gold answer of a MATH solution: what its boxes state (rule 1 of the module docstring)."""
    boxed = boxed_answer(solution)
    if boxed is None:
        raise ValueError("MATH solution has no \\boxed{...}")
    return boxed


# --- equivalence: cleaning --------------------------------------------------------------------------------------

_UNIT_WORDS = re.compile(
    r"(?:\\(?:text|textnormal|mbox|mathrm)\s*\{\s*[A-Za-z .²³]*\}(?:\^\{?[23]\}?)?"
    r"|\b(?:dollars?|cents?|units?|degrees?|percent|pct|inches|inch|feet|foot|ft|meters?|miles?|hours?|minutes?"
    r"|seconds?|days?|weeks?|months?|years?|cm|mm|km|kg|g|m|yuan|euros?)\b\.?(?:\^\{?[23]\}?|[²³])?"
    r"|[€£¥])\s*$"
)
# words after a number that change its value: never dropped as units ("2 pi", "4 hundred", "3 squared")
_VALUE_WORDS = {"sqrt", "sin", "cos", "tan", "sec", "csc", "cot", "log", "ln", "exp", "pi", "arcsin", "arccos",
                "arctan", "sinh", "cosh", "tanh", "mod", "inf", "infty", "hundred", "hundreds", "thousand",
                "thousands", "million", "millions", "billion", "billions", "trillion", "dozen", "dozens", "half",
                "halves", "third", "thirds", "quarter", "quarters", "squared", "cubed", "times", "over", "plus",
                "minus", "percent", "root", "roots", "factorial"}


def _unwrap(s: str) -> str:
    """An answer without its box, maths delimiters and final full stop."""
    s = s.strip()
    if "\\boxed" in s or "\\fbox" in s:
        boxed = boxed_answer(s)
        if boxed is not None:
            s = boxed
    s = s.strip()
    for _ in range(3):
        before = s
        for a, b in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
            if s.startswith(a) and s.endswith(b) and len(s) >= len(a) + len(b):
                s = s[len(a):len(s) - len(b)].strip()
        s = s.rstrip(".").strip()
        if s == before:
            break
    return s


def _normalize_string(s: str) -> str:
    for old, new in (("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\cfrac", "\\frac"), ("\\left", ""),
                     ("\\right", ""), ("\\!", ""), ("\\,", ""), ("\\;", ""), ("\\:", ""), ("\\ ", ""), ("\\$", ""),
                     ("$", ""), ("^\\circ", ""), ("^{\\circ}", ""), ("°", ""), ("\\%", ""), ("%", ""),
                     ("\\displaystyle", "")):
        s = s.replace(old, new)
    return re.sub(r"\s+", "", s)


def _strip_units(s: str) -> str:
    """``18 dollars`` -> ``18``, ``\\$18`` -> ``18``, ``15\\mbox{ cm}^2`` -> ``15``, ``90^\\circ`` -> ``90``."""
    prev = None
    while prev != s:
        prev = s
        s = _UNIT_WORDS.sub("", s).strip()
        s = s.removeprefix("\\$").removeprefix("$").removesuffix("\\$").removesuffix("$").strip()
        for deg in ("^\\circ", "^{\\circ}", "°", "\\%", "%"):
            s = s.removesuffix(deg).strip()
        # prose words after a number ("5 apples"), but never a maths word ("2 pi", "3 sqrt")
        m = re.fullmatch(r"(.*?\d\}?)\s+([A-Za-z]{3,}(?:\s+[A-Za-z]{2,})*)\.?", s)
        if m and not {w.lower() for w in m.group(2).split()} & _VALUE_WORDS:
            s = m.group(1)
    return s


# --- equivalence: exact numbers ---------------------------------------------------------------------------------

_SCIENTIFIC = re.compile(r"(\d(?:\.\d*)?|\.\d+)\s*[eE]\s*([+-]?\d+)(?![\w.])")
_NUMBERISH = re.compile(r"[-+\d.,{}()/^* ]|\\(?:frac|dfrac|tfrac|cdot|times)")
_DIGIT_GROUPS = re.compile(r"\d+(?:,\d+)+|\d+")
_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+")
_DECIMAL = re.compile(r"[-+]?(\d*)\.(\d+)")


def _numberish(s: str) -> bool:
    pos = 0
    while pos < len(s):
        m = _NUMBERISH.match(s, pos)
        if m is None:
            return False
        pos = m.end()
    return any(c.isdigit() for c in s)


def exact_number(answer: str) -> Fraction | None:
    """The exact value of an answer that is only a number (see rule 2 of :func:`answers_match`), else None."""
    if len(str(answer)) > 400:
        return None
    s = _strip_units(_unwrap(str(answer)))
    if not s or len(s) > 200:
        return None
    s = re.sub(r"\{,\}|,\\!\s*", ",", s)  # 1{,}000 and 11,\! 111: LaTeX thousands commas
    s = s.replace("\\!", "").replace("\\left", "").replace("\\right", "")
    s = re.sub(r"(?<=\d)(?:\s|\\,|\\ |~)(?=\d{3}(?!\d))", "", s)  # 1 000, 1\,000: thin-space thousands
    s = s.replace("\\,", " ").replace("\\ ", " ").strip()
    if re.search(r"\d\s+[\d.]", s):  # "2 3": two numbers, not one
        return None

    def scientific(m: re.Match[str]) -> str:
        if len(m.group(2).lstrip("+-")) > 5 or abs(int(m.group(2))) > MAX_EXPONENT:
            raise OverflowError
        return f"{m.group(1)}\\cdot 10^{{{int(m.group(2))}}}"

    try:
        s = _SCIENTIFIC.sub(scientific, s)
    except OverflowError:
        return None
    if not _numberish(s):
        return None
    for group in _DIGIT_GROUPS.findall(s):  # "0,111" or "1,22" are lists or decimal commas, never thousands
        if "," in group and not _THOUSANDS.fullmatch(group):
            return None
    if "," in _DIGIT_GROUPS.sub("0", s):  # a comma outside a thousands group: "(1, 2)", "\\frac12, 3" are lists
        return None
    for exp in re.findall(r"\^\s*\{?\s*[-+]?(\d+)", s):
        if len(exp) > 5 or int(exp) > MAX_EXPONENT:
            return None
    try:
        return parse_plain_number(s)
    except (ArithmeticError, ValueError, RecursionError):
        return None


def _decimal_places(answer: str) -> tuple[int, int] | None:
    """(significant digits, decimal places) when the answer is written as a plain decimal, else None."""
    if len(answer) > 400:
        return None
    s = _strip_units(_unwrap(answer)).replace(",", "").replace("{,}", "").replace(" ", "")
    m = _DECIMAL.fullmatch(s)
    if m is None:
        return None
    digits = (m.group(1) + m.group(2)).lstrip("0")
    return len(digits), len(m.group(2))


def _terminates_within(x: Fraction, places: int) -> bool:
    return (x * 10 ** places).denominator == 1


def _numbers_equal(xa: Fraction, xb: Fraction, a: str, b: str) -> bool:
    if xa == xb:
        return True
    for x, y, written in ((xa, xb, a), (xb, xa, b)):
        shape = _decimal_places(written)
        # "0.0833333333333333" for 1/12: a long decimal stands for a value it rounds or truncates
        if shape and shape[0] >= 6 and not _terminates_within(y, shape[1]) and abs(y - x) < Fraction(1, 10 ** shape[1]):
            return True
    return False


# --- equivalence: plain-text maths -> LaTeX ---------------------------------------------------------------------

_GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "theta", "lambda", "mu", "phi", "omega", "sigma", "tau")
_PLAIN_TOKEN = re.compile(
    r"\s+|\d+(?:\.\d+)?|\*\*|[-+*/^()\[\],=<>.]|(?P<word>[A-Za-z]+)"
)
_PLAIN_WORDS = {"pi": "\\pi", "inf": "\\infty", "infty": "\\infty", "infinity": "\\infty", "oo": "\\infty",
                **{g: "\\" + g for g in _GREEK}}


def _plain_tokens(s: str) -> list[re.Match[str]] | None:
    """The non-space tokens of ``s`` under :data:`_PLAIN_TOKEN`, or None when some character is not one of them."""
    tokens, pos = [], 0
    while pos < len(s):
        m = _PLAIN_TOKEN.match(s, pos)
        if m is None:
            return None
        if not m.group(0).isspace():
            tokens.append(m)
        pos = m.end()
    return tokens


def to_latex(answer: str) -> str:
    """Plain-text maths rewritten to LaTeX by a whitelist (rule 3 of :func:`answers_match`); anything else unchanged.

    ``pi/2`` -> ``\\pi/2``, ``-2*pi`` -> ``-2 \\cdot \\pi``, ``sqrt(2)/2`` -> ``\\sqrt{2}/2``, ``x**2`` -> ``x^{2}``.
    """
    s = answer.strip()
    if "\\" in s or "{" in s or len(s) > 300:
        return s
    tokens = _plain_tokens(s)
    if tokens is None:
        return s
    out: list[str] = []
    sqrt_depths: list[int] = []  # paren depth at which each open \sqrt{ closes
    depth = 0
    changed = False
    i = 0
    while i < len(tokens):
        tok = tokens[i].group(0)
        word = tokens[i].group("word")
        if word is not None:
            low = word.lower()
            if low == "sqrt":
                nxt = tokens[i + 1].group(0) if i + 1 < len(tokens) else ""
                if nxt == "(":  # sqrt(...): the brace closes with the matching parenthesis
                    depth += 1
                    sqrt_depths.append(depth)
                elif not (nxt[:1].isdigit() or (nxt.isalpha() and len(nxt) == 1)):
                    return s
                out.append("\\sqrt{" if nxt == "(" else "\\sqrt{" + nxt + "}")
                i += 2
                changed = True
                continue
            if low in _PLAIN_WORDS:
                out.append(_PLAIN_WORDS[low] + " ")
                changed = True
            elif len(word) == 1:
                out.append(word)
            else:
                return s  # prose, or a function name we do not rewrite
        elif tok == "(":
            depth += 1
            out.append(tok)
        elif tok == ")":
            if sqrt_depths and sqrt_depths[-1] == depth:
                sqrt_depths.pop()
                out.append("}")
            else:
                out.append(tok)
            depth -= 1
        elif tok == "*":
            out.append(" \\cdot ")
            changed = True
        elif tok == "**":
            out.append("^")
            changed = True
        else:
            out.append(tok)
        i += 1
    if sqrt_depths or not changed:
        return s
    return re.sub(r"\^(\w+|\\[a-z]+)", r"^{\1}", "".join(out)).strip()


# --- equivalence: screening before math-verify ------------------------------------------------------------------

_BIG_ARG = re.compile(r"\\binom|\\Gamma|\\det|(?<=[\d)}])\s*!(?!=)")


def screen(answer: str) -> bool:
    """True when an answer is safe to hand to math-verify (bounds in the module docstring)."""
    if len(answer) > MAX_VERIFY_CHARS:
        return False
    if any(len(run) > MAX_DIGITS for run in re.findall(r"\d+", answer)):
        return False
    if re.search(r"\d\s*[eE]\s*[-+]?\d{5,}", answer):  # 1E999999999: a literal math-verify hands to sympify
        return False
    for exp in re.findall(r"\^\s*\{?\s*[-+]?\s*(\d+)", answer):
        if int(exp) > MAX_EXPONENT:
            return False
    if re.search(r"\^\s*\{[^{}]*\^|\^\s*\d+\s*\^", answer):  # 9^{9^{9}}: a tower of powers
        return False
    if _BIG_ARG.search(answer) and ("^" in answer or any(int(n) >= 1000 for n in re.findall(r"\d+", answer))):
        return False  # \binom{10^8}{5\cdot 10^7}, \Gamma(10^8), 100000!: SymPy evaluates them at conversion
    if answer.count("|") > 8:
        return False
    depth = deepest = 0
    for c in answer:
        depth += (c == "{") - (c == "}")
        deepest = max(deepest, depth)
    return deepest <= 40


# --- equivalence ------------------------------------------------------------------------------------------------


def answers_match(pred: str | None, gold: str | None, timeout_s: float = 5.0) -> bool:
    """True when ``pred`` and ``gold`` state the same answer (rules in the module docstring). Symmetric.

    ``\\boxed{}`` and maths delimiters are accepted on either side. Bounded by ``timeout_s`` (math-verify runs in a
    worker subprocess; a typical symbolic pair takes 30-60 ms, the default leaves room for a loaded machine and
    for asking math-verify both ways round); a timeout, a worker failure or a screened-out answer counts as
    "no match". Safe to call from threads and from asyncio code (it blocks; use ``asyncio.to_thread`` to keep an
    event loop free).
    """
    if pred is None or gold is None:
        return False
    a, b = str(pred), str(gold)
    if not a.strip() or not b.strip() or len(a) > MAX_ANSWER_CHARS or len(b) > MAX_ANSWER_CHARS:
        return False
    a, b = to_latex(_unwrap(a)), to_latex(_unwrap(b))
    if not a or not b:
        return False
    na, nb = _normalize_string(a), _normalize_string(b)
    if na and na == nb:
        return True
    xa, xb = exact_number(a), exact_number(b)
    if xa is not None and xb is not None:
        return _numbers_equal(xa, xb, a, b)
    if not (screen(a) and screen(b)):
        return False
    from critic import timebox

    try:
        return bool(timebox.run("math_verify_match", [a, b], timeout_s))
    except (timebox.Timeout, timebox.WorkerError):
        return False


def grade_text(text: str, gold: str | None, timeout_s: float = 5.0) -> tuple[str | None, bool]:
    """``(answer, right)`` of a whole solution text: its :func:`extract_answer` and whether that
    :func:`answers_match` ``gold`` (False when no answer is found). Blocks up to ``timeout_s`` like answers_match."""
    predicted = extract_answer(text)
    return predicted, answers_match(predicted, gold, timeout_s)


def _numeric_close(parsed_a: list, parsed_b: list) -> bool:
    """Runs in the worker: a relative check of two SymPy values that math-verify called equal.

    Percentages are left to math-verify (it equates ``28\\%`` with ``28``, by design)."""
    import sympy

    x, y = parsed_a[0], parsed_b[0]
    if any("%" in str(p[-1]) for p in (parsed_a, parsed_b)):
        return True
    if isinstance(x, sympy.Eq) and isinstance(y, sympy.Eq) and x.lhs == y.lhs and isinstance(x.lhs, sympy.Symbol):
        x, y = x.rhs, y.rhs  # "x = 2^{-98}" against "x = 2^{-99}"
    if not all(isinstance(v, sympy.Expr) for v in (x, y)) or x.free_symbols or y.free_symbols:
        return True
    try:
        vx, vy = sympy.N(x, 30), sympy.N(y, 30)
        if not (vx.is_real and vy.is_real):
            return True
        has_float = bool(x.atoms(sympy.Float) or y.atoms(sympy.Float))
        scale = max(abs(vx), abs(vy))
        if scale == 0:
            return True
        return bool(abs(vx - vy) <= scale * (sympy.Rational(1, 10**6) if has_float else sympy.Rational(1, 10**12)))
    except (TypeError, ValueError, ArithmeticError):
        return True


def _math_verify_match(a: str, b: str) -> bool:
    """Runs inside a timebox worker: math-verify, both ways round, with its signal-based timeouts switched off.

    Only math-verify's LaTeX extraction is used: its plain-expression extraction hands text to SymPy's
    ``parse_expr``, which evaluates Python - never acceptable on model text.
    """
    from math_verify import LatexExtractionConfig, parse, verify

    config = [LatexExtractionConfig()]
    pa = parse("\\boxed{" + a + "}", extraction_config=config, parsing_timeout=None)
    pb = parse("\\boxed{" + b + "}", extraction_config=config, parsing_timeout=None)
    if not pa or not pb:
        return False
    # each side, taken as the gold, must accept the other: math-verify alone is asymmetric (a gold "a + 3z = 0"
    # rejects "0", a gold "0" accepts "a + 3z = 0")
    return all(verify(gold, pred, allow_set_relation_comp=True, timeout_seconds=None) for gold, pred in
               ((pb, pa), (pa, pb))) and _numeric_close(pa, pb)

"""Whitelist tokenizer: the only reader of a step's text.

Model text is never handed to ``eval``, ``exec``, ``sympify``, ``parse_expr`` or a LaTeX converter. The tokenizer
recognises numbers, a fixed set of operators and LaTeX commands, and words; everything else becomes an ``OPAQUE``
token that no expression accepts. It is linear in the text's length and never raises. Literal values are exact
:class:`fractions.Fraction` s built from digit strings by :mod:`fractions` (no parsing of expressions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

MAX_TEXT_CHARS = 20_000  # longer texts are not checked at all
MAX_LITERAL_DIGITS = 60  # a longer digit string is opaque

# ---------------------------------------------------------------------------------------------------------------
# Tokens


@dataclass
class Token:
    """One token of the whitelist tokenizer: its ``kind``, its text, its character span ``[start, end)`` in the step,
    whether white space precedes it, and for a number (``NUM``) its exact value."""

    kind: str  # see _MATHY and the tokenizer for the kinds
    text: str
    start: int
    end: int
    space_before: bool = False
    value: Fraction | None = None  # NUM
    decimals: int = 0  # NUM: digits after the decimal point as written
    op: str = ""  # OP: one of + - * / ^
    words: list[str] = field(default_factory=list)  # WORD: lower-cased word(s)
    label: bool = False  # WORD: a parenthetical \\text{ (Alani)}
    unit: str = ""  # NUM: the unit words that followed it inside an expression ("minutes", "kg/portion")
    currency: bool = False  # NUM: written after a currency sign ("$4.20"): an exact amount, not a rounded value
    name: str = ""  # FUNC: sin cos tan cot sec csc ln log exp; SERIES: sum prod; VAR: the letter or Greek name
    ambiguous: bool = False  # VAR: a letter that texts also use for a constant (e, i, I): never read as a variable
    math: bool = False  # inside LaTeX math ($...$, \\(...\\), \\[...\\], display environments)


# Kinds that can appear inside an expression. Everything else ends one.
MATHY = frozenset({"NUM", "OP", "PCT", "LP", "RP", "LB", "RB", "LSQ", "RSQ", "FRAC", "SQRT", "BINOM", "PI", "VAR",
                   "OPAQUE", "DEG", "FACT", "FUNC", "LFLOOR", "RFLOOR", "LCEIL", "RCEIL", "BAR", "LBAR", "RBAR",
                   "SUB", "BIND", "SERIES"})
# Separators: WORD, PUNCT, EQ, APPROX, REL, DELIM (math delimiters), BREAK (line break).

_NUMBER = re.compile(r"\d{1,3}(?:(?:,|\{,\})\d{3})+(?![\d])(?:\.\d+)?|\d+(?:\.\d+)?")
_LETTERS = re.compile(r"[A-Za-z]+")
_COMMAND = re.compile(r"\\([A-Za-z]+|.)", re.S)
_DEGREE_AFTER_CARET = re.compile(r"\^\s*(?:\{\s*\\circ\s*\}|\\circ)")
_SPACE = " \t\r\f\v\u00a0\u2009\u202f~"

_CMD_OPS = {"times": "*", "cdot": "*", "ast": "*", "div": "/"}
_CMD_TRANSPARENT = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr",
                    "Biggl", "Biggr", "boxed", "displaystyle", "textstyle", "limits", "middle"}
_CMD_SPACE = {"quad", "qquad", "enspace", "thinspace", "medspace", "thickspace", "hspace*"}
_CMD_FRAC = {"frac", "dfrac", "tfrac", "cfrac"}
_CMD_BINOM = {"binom", "dbinom", "tbinom"}
_CMD_TEXT = {"text", "textbf", "textit", "textrm", "textsf", "texttt", "mathrm", "mbox", "operatorname", "mathit",
             "textup", "textnormal", "emph"}
_CMD_APPROX = {"approx", "simeq", "sim", "thickapprox", "approxeq", "doteq"}
_CMD_REL = {"le", "leq", "ge", "geq", "lt", "gt", "ne", "neq", "equiv", "Rightarrow", "implies", "to", "rightarrow",
            "Longrightarrow", "longrightarrow", "iff", "Leftrightarrow", "therefore", "because", "leqslant",
            "geqslant", "ll", "gg", "mapsto", "land", "lor", "wedge", "vee", "quad"}
_DISPLAY_ENVS = {"align", "aligned", "equation", "gather", "gathered", "eqnarray", "split", "multline", "alignat",
                 "flalign", "displaymath", "math"}
_CHAR_OPS = {"+": "+", "-": "-", "\u2212": "-", "*": "*", "\u00d7": "*", "\u00b7": "*", "\u22c5": "*",
             "\u2219": "*", "/": "/", "\u00f7": "/", "^": "^"}
_CHAR_REL = {"<", ">", "\u2264", "\u2265", "\u2260", "\u21d2", "\u2192", "\u27f9", "\u2261", "\u2234"}
_CMD_FUNC = {"sin", "cos", "tan", "cot", "sec", "csc", "ln", "log", "exp"}
_CMD_SERIES = {"sum": "sum", "prod": "prod"}
_CMD_DELIMS = {"lfloor": "LFLOOR", "rfloor": "RFLOOR", "lceil": "LCEIL", "rceil": "RCEIL", "lvert": "LBAR",
               "rvert": "RBAR", "vert": "BAR"}
# Greek letters read as variables; the others (\gamma, \phi, \epsilon, ...) also name constants: opaque
_CMD_GREEK_VARS = {"theta", "alpha", "beta"}
_AMBIGUOUS_LETTERS = frozenset({"e", "i", "I"})  # Euler's number, the imaginary unit, or a variable: never read
_CURRENCY = {"\u20ac", "\u00a3", "\u00a5"}  # a leading currency sign is not part of the number
# Commands that are one token of a fixed kind (those with arguments or context are read in _command first).
_CMD_KINDS = {"\\": "BREAK", **dict.fromkeys("()[]", "DELIM"), "%": "PCT", "sqrt": "SQRT",
              **dict.fromkeys(_CMD_BINOM, "BINOM"), "pi": "PI", **_CMD_DELIMS, "circ": "DEG",
              **dict.fromkeys(_CMD_APPROX, "APPROX"), **dict.fromkeys(_CMD_REL - _CMD_APPROX, "REL")}


# Characters that are one token of a fixed kind wherever they stand (after the context-dependent cases of tokenize).
_CHAR_KINDS = {"\u221a": "SQRT", "\u2248": "APPROX", **{c: "REL" for c in _CHAR_REL}, "(": "LP", ")": "RP",
               "[": "LSQ", "]": "RSQ", "%": "PCT", "\u00b0": "DEG", "|": "BAR", "_": "SUB", "\u03c0": "PI",
               **{c: "OPAQUE" for c in "'\u2032\u221e\u2026"}}


def _number_at(text: str, i: int) -> tuple[str, int, dict]:
    """The number literal starting at ``text[i]`` (an ASCII digit): ``("NUM", end, {value, decimals})``, or
    ``("OPAQUE", end, {})`` for a literal of more than :data:`MAX_LITERAL_DIGITS` digits (never converted)."""
    m = _NUMBER.match(text, i)
    if sum(ch.isdigit() for ch in m.group(0)) > MAX_LITERAL_DIGITS:
        j = i
        while j < len(text) and (text[j].isdigit() or text[j] in ",."):
            j += 1
        return "OPAQUE", j, {}
    lit = m.group(0).replace("{,}", "").replace(",", "")
    return "NUM", m.end(), {"value": Fraction(lit), "decimals": len(lit.split(".")[1]) if "." in lit else 0}


def _factorial_at(text: str, i: int) -> bool:
    """Whether the ``!`` at ``text[i]`` is a factorial: after a number or a closing bracket, and an expression goes
    on ("5! = 120", "3!/2"); otherwise it is punctuation ("It is 5!")."""
    n = len(text)
    j = i + 1
    while j < n and text[j] in _SPACE:
        j += 1
    after_number = i and (text[i - 1].isdigit() or text[i - 1] in ")}")
    return bool(after_number and (j < n and (text[j] in "=+-*/^)}$\\" or text[j].isdigit()) and j == i + 1
                                  or j < n and text[j] in "=+-*/^)\\"))


def tokenize(text: str) -> list[Token]:
    """Split text into tokens. Linear in ``len(text)``; never raises."""
    toks: list[Token] = []
    n = len(text)
    i = 0
    space = True
    currency_next = False
    depth = 0  # brace depth
    sub_depths: list[int] = []  # brace depths of open subscript groups: "=" inside "_{k=1}" binds, it claims nothing

    def add(kind: str, s: int, e: int, **kw) -> None:
        nonlocal space
        toks.append(Token(kind, text[s:e], s, e, space, **kw))
        space = False

    while i < n:
        c = text[i]
        if c in _SPACE:
            space = True
            i += 1
        elif c == "\n":
            add("BREAK", i, i + 1)
            space = True
            i += 1
        elif c.isdigit() and c.isascii():
            kind, end, fields = _number_at(text, i)
            if kind == "NUM":
                fields["currency"], currency_next = currency_next, False
            add(kind, i, end, **fields)
            i = end
        elif c == "." and i + 1 < n and text[i + 1].isdigit() and (i == 0 or not text[i - 1].isalnum()):
            m = re.compile(r"\.\d{1,60}").match(text, i)
            add("NUM", i, m.end(), value=Fraction("0" + m.group(0)), decimals=len(m.group(0)) - 1)
            i = m.end()
        elif c.isascii() and c.isalpha():
            m = _LETTERS.match(text, i)
            add("LETTERS", i, m.end(), words=[m.group(0)])
            i = m.end()
        elif c == "\\":
            i = _command(text, i, add, toks)
            if i < 0:  # "\$": currency
                i = -i
                currency_next = True
            if toks and toks[-1].kind == "SPACE":
                toks.pop()
                space = True
        elif c == "$":
            # "$18" after a space or an operator is currency; otherwise "$" delimits math.
            prev = text[i - 1] if i else " "
            nxt = text[i + 1] if i + 1 < n else " "
            if nxt.isdigit() and not (prev.isalnum() or prev in "}.)"):
                currency_next = True
                i += 1  # currency: transparent, keeps the spacing state
            else:
                add("DELIM", i, i + 1)
                space = True
                i += 1
        elif c in _CURRENCY:
            currency_next = True
            i += 1
        elif c == "^" and _DEGREE_AFTER_CARET.match(text, i):
            m = _DEGREE_AFTER_CARET.match(text, i)
            add("DEG", i, m.end())
            i = m.end()
        elif c == "*" and text.startswith("**", i):
            add("OP", i, i + 2, op="^")
            i += 2
        elif c == "\u2013" and 0 < i < n - 1 and text[i - 1] == " " and text[i + 1] == " ":
            add("OP", i, i + 1, op="-")  # a spaced en dash is a minus ("$300 – $220"); "10–20" is a range
            i += 1
        elif c in _CHAR_OPS:
            add("OP", i, i + 1, op=_CHAR_OPS[c])
            i += 1
        elif c == "\u00b2" or c == "\u00b3":
            add("OP", i, i, op="^")
            toks[-1].end = i + 1
            add("NUM", i, i + 1, value=Fraction(2 if c == "\u00b2" else 3))
            i += 1
        elif c == "=":
            add("BIND" if sub_depths else "EQ", i, i + 1)
            i += 1
        elif c in "{}":
            if c == "{":
                depth += 1
                if toks and toks[-1].kind == "SUB" and toks[-1].end == i:
                    sub_depths.append(depth)
            else:
                if sub_depths and sub_depths[-1] == depth:
                    sub_depths.pop()
                depth = max(0, depth - 1)
            add("LB" if c == "{" else "RB", i, i + 1)
            i += 1
        elif c == "&":
            add("AMP", i, i + 1)  # alignment marker or matrix cell separator
            space = True
            i += 1
        elif c == "!":
            is_factorial = _factorial_at(text, i)
            add("FACT" if is_factorial else "PUNCT", i, i + 1)
            space = not is_factorial
            i += 1
        elif c == "'" and 0 < i < n - 1 and text[i - 1].isalpha() and text[i + 1].isalpha():
            add("PUNCT", i, i + 1)
            i += 1
        elif c in _CHAR_KINDS:
            add(_CHAR_KINDS[c], i, i + 1)
            i += 1
        else:
            add("PUNCT", i, i + 1)
            space = True
            i += 1
    _classify_letters(toks)
    _mark_math(toks)
    return toks


def _after_quantity(toks: list[Token], k: int) -> bool:
    """A number, then at most three words (a unit: "miles per gallon"), then token ``k``."""
    j = k - 1
    while j >= 0 and k - j <= 4 and toks[j].kind in ("LETTERS", "WORD"):
        j -= 1
    return j >= 0 and j < k - 1 and toks[j].kind == "NUM"


def _mark_math(toks: list[Token]) -> None:
    """Set ``math`` on the tokens between math delimiters."""
    inside = False
    for t in toks:
        if t.kind == "DELIM":
            if t.text == "$":
                inside = not inside
            else:
                inside = t.text in ("\\(", "\\[") or t.text.startswith("\\begin")
            continue
        t.math = inside


def _command(text: str, i: int, add, toks: list[Token]) -> int:
    """Tokenize one backslash command starting at ``text[i] == '\\'``; return the next index (negated for an escaped
    dollar, which the caller reads as currency)."""
    m = _COMMAND.match(text, i)
    if m is None:  # lone trailing backslash
        add("OPAQUE", i, i + 1)
        return i + 1
    name = m.group(1)
    e = m.end()
    if name == "$":
        return -e  # escaped dollar: currency, transparent (the caller marks the next number)
    if name in ",;:! " or name in _CMD_SPACE:
        add("SPACE", i, e)
    elif name in _CMD_OPS:
        add("OP", i, e, op=_CMD_OPS[name])
    elif name in _CMD_TRANSPARENT:
        if name in ("left", "right", "middle") and e < len(text) and text[e] == ".":
            e += 1
        elif name in ("left", "right") and e < len(text) and text[e] == "|":
            add("LBAR" if name == "left" else "RBAR", i, e + 1)
            e += 1
    elif name in _CMD_FRAC:
        add("FRAC", i, e)
        e = _frac_digits(text, e, add)
    elif name in _CMD_FUNC:
        add("FUNC", i, e, name=name)
    elif name in _CMD_SERIES:
        add("SERIES", i, e, name=_CMD_SERIES[name])
    elif name in _CMD_GREEK_VARS:
        add("VAR", i, e, name="\\" + name)
    elif name in ("begin", "end"):
        e = _environment(text, i, e, add)
    elif name in _CMD_TEXT:
        e = _text_command(text, i, e, add)
    else:
        add(_CMD_KINDS.get(name, "OPAQUE"), i, e)
    return e


def _frac_digits(text: str, e: int, add) -> int:
    """``\\frac12``: up to two single-digit arguments written without braces after a fraction command ending at
    ``e``; returns the index after them."""
    for _ in range(2):
        j = e
        while j < len(text) and text[j] in _SPACE:
            j += 1
        if j < len(text) and text[j].isdigit():
            add("NUM", j, j + 1, value=Fraction(int(text[j])))
            e = j + 1
        else:
            break
    return e


def _environment(text: str, i: int, e: int, add) -> int:
    """``\\begin{align*}`` / ``\\end{...}``: a display environment delimits math like ``\\[`` does; matrices, cases
    and arrays hold cells we do not read (opaque). Returns the index after the environment name."""
    env = ""
    if e < len(text) and text[e] == "{":
        k = text.find("}", e, e + 40)
        if k != -1:
            env, e = text[e + 1:k], k + 1
    add("DELIM" if env.rstrip("*") in _DISPLAY_ENVS else "OPAQUE", i, e)
    return e


def _text_command(text: str, i: int, e: int, add) -> int:
    """``\\text{...}`` and its kin: the words inside as one WORD token (``label`` when it starts with a parenthesis),
    spacing only (``\\text{ }``), or punctuation; opaque without a braced argument. Returns the index after it."""
    j = e
    while j < len(text) and text[j] in _SPACE:
        j += 1
    if j >= len(text) or text[j] != "{":
        add("OPAQUE", i, e)
        return e
    depth, k = 0, j
    while k < len(text):
        if text[k] == "{":
            depth += 1
        elif text[k] == "}":
            depth -= 1
            if depth == 0:
                break
        k += 1
    inner = text[j + 1:k]
    e = min(k + 1, len(text))
    words = [w.lower() for w in re.findall(r"[A-Za-z]+", inner)]
    if words:
        add("WORD", i, e, words=words, label=inner.strip().startswith("("))
    else:  # \text{ } or \text{\$}: spacing only; \text{,} etc.: punctuation
        add("PUNCT" if inner.strip(" \\$~") else "SPACE", i, e)
    return e


def _classify_letters(toks: list[Token]) -> None:
    """Decide for each run of letters: a word, a variable, 'x' meaning times, or something opaque (3rd, 2xy)."""
    for k, t in enumerate(toks):
        if t.kind != "LETTERS":
            continue
        prev = toks[k - 1] if k else None
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        word = t.words[0]
        # "papers/inch", "kg/portion": a unit ratio, not arithmetic
        if (prev is not None and prev.kind == "OP" and prev.op == "/" and k >= 2
                and toks[k - 2].kind in ("LETTERS", "WORD")):
            prev = None
        if (nxt is not None and nxt.kind == "OP" and nxt.op == "/" and k + 2 < len(toks)
                and toks[k + 2].kind == "LETTERS"):
            nxt = None
        touch_prev = prev is not None and not t.space_before and prev.kind in ("NUM", "RP", "OP", "LB", "RB",
                                                                               "PCT", "FACT", "VAR")
        touch_next = nxt is not None and not nxt.space_before and nxt.kind in ("NUM", "LP", "OP", "LB", "FRAC",
                                                                              "SQRT", "FACT", "PCT")
        if len(word) > 1:
            lw = word.lower()
            per_unit = prev is not None and prev.kind == "OP" and prev.op == "/" and not touch_next  # "$6/plate"
            if (touch_prev and not per_unit) or touch_next:
                t.kind = "OPAQUE"
            elif lw == "percent" and prev is not None and prev.kind == "NUM":
                t.kind = "PCT"
            else:
                t.kind = "WORD"
                t.words = [lw]
            continue
        # single letter
        if word in "xX" and prev is not None and nxt is not None and nxt.kind in ("NUM", "LP") \
                and t.space_before == nxt.space_before and (t.space_before or nxt.kind == "NUM") and (
                    prev.kind in ("NUM", "RP", "PCT")
                    or (prev.kind in ("LETTERS", "WORD") and t.space_before and _after_quantity(toks, k))):
            t.kind, t.op = "OP", "*"  # "3 x 4", "120 units x 3/4", "25 miles per gallon x 12 gallons"
            continue
        mathy_prev = prev is not None and (
            (prev.kind in ("OP", "EQ", "LP", "LB", "APPROX", "REL", "FRAC", "SQRT", "FUNC", "BAR", "LBAR", "LFLOOR",
                           "LCEIL", "SERIES", "BIND"))
            or (prev.kind in ("NUM", "RP", "VAR", "RB") and not t.space_before))
        mathy_next = nxt is not None and (
            nxt.kind in ("OP", "EQ", "RP", "RB", "APPROX", "REL", "PCT", "BAR", "RBAR", "RFLOOR", "RCEIL", "SUB",
                         "BIND", "FACT", "DEG")
            or (nxt.kind in ("LP", "NUM", "VAR", "FUNC", "SQRT", "FRAC") and not nxt.space_before))
        if mathy_prev or mathy_next:
            t.kind = "VAR"
            t.name = word
            t.ambiguous = word in _AMBIGUOUS_LETTERS
        else:
            t.kind = "WORD"
            t.words = [word.lower()]
    # "20% of 50", "3/4 of 20": "of" is multiplication
    for k, t in enumerate(toks):
        if t.kind == "WORD" and t.words == ["of"] and 0 < k < len(toks) - 1 and toks[k + 1].kind == "NUM":
            p = toks[k - 1]
            if p.kind == "PCT" or (p.kind == "NUM" and k >= 3 and toks[k - 2].kind == "OP" and toks[k - 2].op == "/"
                                   and toks[k - 3].kind == "NUM"):
                t.kind, t.op = "OP", "*"



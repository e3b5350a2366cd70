"""critic.verify beyond plain arithmetic: exact values in LaTeX, identities, rearranged relations, the readings
that stay unknown, and the plain-text guards. Each list holds several variants of one kind of claim."""

from __future__ import annotations

import pytest

from critic.verify import check_step
from critic.verify.parse import ParseError, parse
from critic.verify.tokens import tokenize


def verdict(text: str) -> str:
    return check_step(text).verdict


def wrong_evidence(text: str):
    check = check_step(text)
    assert check.verdict == "wrong", (text, check)
    bad = [e for e in check.evidence if not e.ok]
    assert bad
    return bad[0]


# ---------------------------------------------------------------------------------------------------------------
# Exact values with SymPy: radicals, pi, trigonometry at table angles, logarithms, floor/ceil, |x|, sums

EXACT_OK = [
    r"\(\sqrt{12} = 2\sqrt{3}\)",
    r"\(\sqrt[3]{54} = 3\sqrt[3]{2}\)",
    r"\(\frac{\sqrt{2}}{2 + \sqrt{2}} = \sqrt{2} - 1\)",
    r"\(\sin 30^\circ = \frac{1}{2}\)",
    r"\(\cos \frac{\pi}{3} + \sin\left(\frac{\pi}{6}\right) = 1\)",
    r"\(\tan 45^\circ \cdot \cos 60^\circ = \frac{1}{2}\)",
    r"\(\sin^2 30^\circ + \cos^2 30^\circ = 1\)",
    r"\(\log_2 8 = 3\)",
    r"\(\log_{10} 1000 - \log_3 9 = 1\)",
    r"\(\left\lfloor \frac{17}{5} \right\rfloor + \lceil 2.1 \rceil = 6\)",
    r"\(\lfloor \sqrt{50} \rfloor = 7\)",
    r"\(|-3| + \left| 2 - 7 \right| = 8\)",
    r"\(\sum_{k=1}^{10} k^2 = 385\)",
    r"\(\prod_{k=1}^{4} (2k) = 384\)",
    r"\(\binom{8}{3} = \frac{8!}{3!5!} = 56\)",
    r"\(\pi r^2\) with \(r = 2\) is \(\pi \cdot 2^2 = 4\pi\)",
]

EXACT_WRONG = [
    (r"\(\sqrt{12} = 3\sqrt{2}\)", "2*sqrt(3)"),
    (r"\(\sin 60^\circ = \frac{1}{2}\)", "sqrt(3)/2"),
    (r"\(\cos \frac{2\pi}{3} = \frac{1}{2}\)", "-0.5"),
    (r"\(\log_2 32 = 6\)", "5"),
    (r"\(\left\lfloor \frac{17}{5} \right\rfloor = 4\)", "3"),
    (r"\(\sum_{k=1}^{10} k = 50\)", "55"),
    (r"\(\sqrt{2} + \sqrt{3} = \sqrt{10}\)", "sqrt(2) + sqrt(3)"),  # 0.5 % apart: exact forms, no tolerance
    (r"\(\prod_{k=1}^{6} \cos \frac{k\pi}{7} = \frac{1}{64}\)", "cos(pi/7)*cos(2*pi/7)*"),  # ≈ -1/64: a sign
    (r"\(\frac{1}{\frac{5}{2}} = 1\)", "0.4"),  # not a quotient stated as a count
]


@pytest.mark.parametrize("text", EXACT_OK)
def test_exact_values_agree(text: str) -> None:
    assert verdict(text) == "ok", check_step(text)


@pytest.mark.parametrize(("text", "expected"), EXACT_WRONG)
def test_exact_values_disagree_with_exact_evidence(text: str, expected: str) -> None:
    assert wrong_evidence(text).expected.startswith(expected)


def test_product_of_cosines_is_evaluated_to_its_sign() -> None:
    ev = wrong_evidence(r"\(\prod_{k=1}^{6} \cos \frac{k\pi}{7} = \frac{1}{64}\)")
    assert ev.expected.endswith("≈ -0.015625")


# ---------------------------------------------------------------------------------------------------------------
# Every ambiguity resolves to unknown, never to a flag

AMBIGUOUS = [
    "3(4) = 7",  # 12 as a product, 7 as a converter reads it: true under one reading
    r"\(e^2 = 7.39\)",  # Euler's number or a variable
    r"\(i^2 = -1\)",
    r"\(e^{i\pi} = -1\)",
    r"\(I^2 + 1 = 0 = 1 + I^2\)",
    r"\(\gamma = 0.5772\)",
    r"\(x' = 2x = 4\)",
    r"\(101_2 = 5 = 6\)",  # base 2 or a subscript
    r"\(\sin 30 = \frac{1}{2}\)",  # degrees or radians: no degree sign, no pi
    r"\(\cos 72^\circ(-\cos 36^\circ) = 1\)",  # where does the argument end
    r"\(\sin x^2 = 5\)",
    r"\(\log 8 = 3\)",  # base 10, e or 2
    r"\(\sum_{k=1}^{3} k + k = 9\)",  # does the body stop at +
    r"\(f^{-1}(5) = 2\)",
    r"\(\frac{2}{3} = 0.\overline{6}\)",
    "x^2 + y^2 = 40^2 x^2 + y^2 = 1600",  # two plain-text lines run together
    r"\(2\frac{1}{2} = 1\)",  # a mixed number or a product
    r"\(7.5 / 1/2 = 15\)",
    r"\(X + x + 1 = x + X + 2 = 5\)",  # X and x: one unknown written twice or two
    r"\(\binom{10^{8}}{5 \cdot 10^{7}} = 1\)",
    r"\(\Gamma(10^8) = 1\)",
]


@pytest.mark.parametrize("text", AMBIGUOUS)
def test_ambiguous_readings_are_never_flagged(text: str) -> None:
    assert verdict(text) != "wrong", check_step(text)


def test_juxtaposed_number_is_flagged_only_when_false_under_every_reading() -> None:
    assert verdict("3(4) = 12") == "ok"
    assert verdict("3(4) = 7") == "unchecked"
    assert wrong_evidence("4(40) - 13 = 157").expected == "147"


@pytest.mark.parametrize("text", [r"\sin 30 + \cos", r"\cos 72^\circ(-\cos 36^\circ)", r"\log 5", "e + 1",
                                  "x(2)", r"\sum_{k=1}^{3} k + k", r"\sin^{-1} x"])
def test_parser_refuses_ambiguous_forms(text: str) -> None:
    with pytest.raises(ParseError):
        parse([t for t in tokenize(text) if t.kind != "DELIM"])


# ---------------------------------------------------------------------------------------------------------------
# Identities in unknowns: substitution first, SymPy expand/cancel to confirm

IDENTITY_OK = [
    r"\((x+1)^2 = x^2 + 2x + 1 = (x+1)(x+1)\)",
    r"\((a+b)^2 - (a-b)^2 = a^2 + 2ab + b^2 - a^2 + 2ab - b^2 = 4ab\)".replace("ab", "a b"),
    r"\(\frac{x^2 - 1}{x - 1} = \frac{(x-1)(x+1)}{x-1} = x + 1\)",
    r"Expanding, \((x+1)(x^2-x+1) = x^3 + 1\).",
]

IDENTITY_WRONG = [
    (r"Expanding, we get \((x+1)(x^2-x+1) = x^3 - 1\).", "x^3 + 1"),
    (r"\(-(6 + 2r + 3r + 6r) = -(11r + 6) = -(15r + 6)\)", "-11*r - 6"),
    (r"\(x^3 + (x^2 - 3x^2 + 2x^2) + 3x - 6 = x^3 + (-3x^2 + 2x^2) + 3x - 6 = x^3 + 3x\)", "x^3 + 3*x - 6"),
]

IDENTITY_UNKNOWN = [
    r"\((a+b+c)^2 = a^2 + b^2 + c^2 + 2(-11) = 2\)",  # a known fact (ab+bc+ca = -11) used on the way
    r"\(a + b = b + c = c + d\)",  # a condition between unknowns
    r"\(a^2 b + c = b^2 c + a = c^2 a + b\)",
    r"\(r^2 = (h - 2)^2 + k^2 = (h - 4)^2 + k^2\)",  # equidistance: differs in lower terms only
    r"\(T^2 + 4n = 13^2 + 4n = 173\)",  # T = 13 substituted: an unknown disappears
    r"\(\sqrt{x^2} = x = 3\)",  # true for x > 0, the domain the text has in mind
    r"Factoring the denominator as \((x-1)(x+1)\), we have \(\frac{1}{x^2 - 1} = \frac{3}{x}\).",  # an equation
]


@pytest.mark.parametrize("text", IDENTITY_OK)
def test_identities_that_hold(text: str) -> None:
    assert verdict(text) != "wrong", check_step(text)


@pytest.mark.parametrize(("text", "expected"), IDENTITY_WRONG)
def test_identity_slips_are_flagged_with_the_expansion(text: str, expected: str) -> None:
    assert wrong_evidence(text).expected == expected


@pytest.mark.parametrize("text", IDENTITY_UNKNOWN)
def test_facts_and_conditions_are_not_identity_slips(text: str) -> None:
    assert verdict(text) != "wrong", check_step(text)


# ---------------------------------------------------------------------------------------------------------------
# Rearranged relations

REARRANGED_WRONG = [
    (r"\[-2 + 4a + 8 = 0 \Rightarrow 4a = -10 \Rightarrow a = -\frac{5}{2}.\]", "4*a + 6 = 0"),
    (r"Thus \(m^2-4(2)(8)>0\), so \(m^2-32>0\).", "m^2 - 64 > 0"),
    (r"so \(m^2-32>0\), which implies that \((m-4)(m+8)>0\).", "m^2 - 32 > 0"),
    (r"Rearranging: \(3x + 7 = 19 \implies 3x = 26\)", "3*x - 12 = 0"),
    (r"the quadratic equation \(n^2 - 3n + 2 = 322\): \[n^2 - 3n - 318 = 0\]", "n^2 - 3*n - 320 = 0"),
]

REARRANGED_WRONG += [
    # one unknown, same degree: any difference is a slip
    (r"Expanding, we have \(20n^2+41n+20=3n^3+5n^2+0n+6 \Rightarrow 3n^3-15n^2+41n+14=0.\)",
     "3*n^3 - 15*n^2 - 41*n - 14 = 0"),
    # an unknown exponent of a number is an atom
    (r"Factor out the bases: \( 3^{x}(3^2 - 9) = 2^{x}(2^5 - 5) \). Simplifying, \( 3^{x}(-6) = 2^{x}(27) \).",
     "-27*2^x = 0"),
]

REARRANGED_NOT_WRONG = [
    r"\[2x + 3 = 9 \implies 2x = 6 \implies x = 3\]",
    r"\(-2x < 6 \implies x > -3\)",
    r"\(x^2 = 4 \implies x = 2\)",  # a root taken, not a rearrangement
    r"\(\sqrt{x+1} = 3 \implies x + 1 = 9\)",  # squared
    r"\(x^2 = 3x \implies x = 3\)",  # divided by an unknown
    r"\(x - 4 = 1\) or \(x - 4 = 11\). Solving these equations, we get: \(x - 4 = 1\)",
    r"\(2x = a + 1\) or \(2x = b + 3\), so \(x = a + 2\) or \(x = b\)",  # which pairs with which
    r"\(K \geq 70 / 24 \implies K \geq 2.91667\)",  # rounded
    r"\(b = 0 \implies b^2 - b + 2 = 2\)",  # a value substituted
    r"\(x + y = 5\) and \(x + 2y = 5\)",  # two conditions
    r"\(\cos^2 \theta = \sin \theta \implies \sin^2 \theta + \sin \theta = 1\)",  # a trigonometric identity used
    r"\(\frac{1}{x^2 - 1} + 1 = 2x \implies \frac{x^2}{x^2 - 1} = 2x\)",  # the same relation in another form
    r"\(\frac{x^2 - 11}{x + 1} - 7 < 0 \implies \frac{x^2 - 11 - 7(x + 1)}{x + 1} < 0\)",
]


STATED_ROOTS = [
    (r"\(x^2 - 5x + 6 = 0\), so \(x = 2\) or \(x = 3\).", "ok"),
    (r"\(x^2 - 5x + 6 = 0\), so \(x = 2\) or \(x = 4\).", "wrong"),
    (r"\(2t^3 - 16 = 0\) gives \(t = 2\).", "ok"),
    (r"\(2t^3 - 16 = 0\) gives \(t = 3\).", "wrong"),
    # the value solves another equation of the step: a case split, not a contradiction
    (r"Setting each factor to zero: \(x - 1 = 0\) or \(x^2 - 3x - 3 = 0\). From the first, \(x = 1\).", "ok"),
    (r"\(x^2 - 5x + 6 = 0\). Checking \(x = 4\): it does not work.", "unchecked"),
    (r"\(x^2 - 2 = 0\), so \(x = 1.41\).", "unchecked"),  # rounded
]


@pytest.mark.parametrize(("text", "expected"), STATED_ROOTS)
def test_stated_roots_are_substituted_back(text: str, expected: str) -> None:
    assert verdict(text) == expected, check_step(text)


def test_stated_root_evidence() -> None:
    ev = wrong_evidence(r"\(x^2 - 5x + 6 = 0\), so \(x = 2\) or \(x = 4\).")
    assert ev.claim == "x = 4 (from x^2 - 5x + 6 = 0)"
    assert ev.expected == "x^2 - 5*x + 6 at x = 4 is 2, not 0"


EXPONENTIAL = [
    (r"\[ \frac{6^b}{3^b} = \left(\frac{6}{3}\right)^b = 3^b \]", "wrong"),
    (r"\[ f(9) = 2^{k \cdot 9} + 9 = 2^{9k} = 6^3 \]", "wrong"),
    (r"\(4^n = 2^{2n} = (2^n)^2\)", "ok"),
    (r"\((-1)^n = (-1)^{3n} = (-1)^{n} \cdot 1\)", "ok"),  # rational points with odd denominators only
]


@pytest.mark.parametrize(("text", "expected"), EXPONENTIAL)
def test_unknown_exponents(text: str, expected: str) -> None:
    assert verdict(text) == expected, check_step(text)


@pytest.mark.parametrize(("text", "expected"), REARRANGED_WRONG)
def test_rearrangement_slips(text: str, expected: str) -> None:
    assert wrong_evidence(text).expected == expected


@pytest.mark.parametrize("text", REARRANGED_NOT_WRONG)
def test_derivations_we_cannot_follow_stay_unknown(text: str) -> None:
    assert verdict(text) != "wrong", check_step(text)


# ---------------------------------------------------------------------------------------------------------------
# Plain-text guards: exact about what they guard

GUARDED_WRONG = [
    # a negation elsewhere in the sentence is about something else
    "Travis had 61 - 9 = 63 apps after deleting the ones he didn't use.",
    "The number of students who didn't use exit A is 1000-300 = 705",
    "First quadruple the number of customers kicked out for not wearing masks: 4 * 3 customers = 7 customers",
    "If there were initially 10 students, 320-10=300 students would join the campus.",
    "If each chicken eats 3 cups, then for 20 chickens they would need 3*20=70 cups of feed per day.",
    "There were 10 - 1 = 19 liters of orange drink left.",
    # "of" and "times" only matter where they change the value
    "Paul has a total of 52 + 28 = 83 marbles.",
    "The alarm rang 3 * 4 = 15 times.",
    "He pays $14 a month for 10 months, or 10 months * $14 per month = $150.",
    "Sylvie's earnings will increase by 10/100 * 7200 = 725 after 5 years.",
    # units: counted things mix freely, "of"/"per" inside a unit phrase
    "Of the 96 fourth graders, 43 are girls, so 96 students - 43 girls = 55 boys.",
    "So in each cage, there are 90 pieces of straw / 3 cages = 28 pieces of straw.",
    "Olivia can go 25 miles per gallon x 12 gallons = 302 miles",
    "Her recipe makes 12 cookies and she needs 60 cookies so that's 60/12 = 6 dozen",
    # a spaced en dash is a minus, a trailing-zero decimal is exact
    "Therefore, the team won 22 \u2013 7 = 16 games.",
    "Everything is 20% off, and her total is $165 so 165*.20= $33.03",
    "Golf Balls:16/2=9",
    "the daily consumption is \\[\\frac{3500}{5} = 800\\] cartons per day.",
]

GUARDED_WRONG += [
    # an approximation of a value that is exact at the places shown is an error, not a rounding
    r"\(\frac{59049}{9^3} = \frac{59049}{729} \approx 80.83\)",
]

GUARDED_UNKNOWN = [
    "If it were 5 + 3 = 9 we would be done.",  # the hypothesis belongs to the claim
    "The sum is not 12 + 5 = 18.",
    "We see that y = 8, y = 24, and y = 48 are not roots, so 117(y - 3) + 65(y - 15) - 90(y - 35) = 92.",
    "Check: 60 = 5^2 + 6^2 = 61. This does not work.",
    "Is 2 + 2 = 5? No.",
    "half of 10 + 4 = 9",
    "The price is 3 * 5 = 15 times the price of a pen.",
    "2 hours + 30 minutes = 150 minutes",  # measures convert
    "$2 + 50 cents = $2.50",
    "Elizabeth has a total of 1 pack of red + 2 packs of clear = 20 + 20 + 20 = 60 beads.",  # packs to beads
    "48 is 20% greater, i.e. 48 = 100% + 20% = 120% of the actual number",  # a share, not arithmetic
    "Howie gets cupcakes for his 25 classmates + his 1 teacher + 1 himself = 27 people.",
    "3/4 of a skein of yarn * 364 yards = 364 / 4 = 273 yards.",  # the chain's start is cut: ends may agree
    "3500 - 4000 = 500 dollars more",  # a difference stated as its size, in a word problem
    "10/3 = 3 full boxes",
    "Let's try a = 2, b = 5 and c = 7: \\[1 = \\frac{1}{2} + \\frac{1}{5} + \\frac{1}{7}\\] This sum is "
    "\\[= \\frac{35}{70} + \\frac{14}{70} + \\frac{10}{70} = \\frac{59}{70}\\] It doesn't equal 1.",
    "770 \u00f7 333 = 2 with a remainder of 104",
    "the total is approximately: \\[ 11.5098 \\times 720 = 8286.656 \\]",  # a rounded input, an approximate total
    "\\(\\frac{10}{3} \\approx 3.3\\)",
    "\\(770 \\div 333 = 2\\) with a remainder of \\(104\\)",
]


@pytest.mark.parametrize("text", GUARDED_WRONG)
def test_guards_do_not_hide_clear_slips(text: str) -> None:
    assert verdict(text) == "wrong", check_step(text)


@pytest.mark.parametrize("text", GUARDED_UNKNOWN)
def test_guards_keep_what_they_guard_unknown(text: str) -> None:
    assert verdict(text) != "wrong", check_step(text)


def test_named_quantity_restated_in_the_next_chain() -> None:
    text = (r"For 15 terms: \( S_{15} = \frac{15}{2} \times 994 \). Simplifying, we get: \( S_{15} = 7.5 \times 994 \)."
            r" Finally, we calculate: \( S_{15} = 7458 \).")
    ev = wrong_evidence(text)
    assert ev.expected == "7455" and ev.stated == "7458"


def test_evidence_of_an_identity_names_both_forms() -> None:
    ev = wrong_evidence(r"Expanding, we get \((x+1)(x^2-x+1) = x^3 - 1\).")
    assert (ev.claim, ev.expected, ev.stated) == ("(x+1)(x^2-x+1) = x^3 - 1", "x^3 + 1", "x^3 - 1")


DEFINED_NAMES = [
    # a name the step gives one value is read as that value in a later chain of rewrites
    (r"Notice that \[ y = \sqrt{5} + 1 \] Thus, \[ y \cdot (\sqrt{5} - 1) = y^2 - 1 = 2y. \]", "wrong"),
    (r"Let \( y = \sqrt{5} + 1 \). Then \[ y \cdot (\sqrt{5} - 1) = 5 - 1 = 4. \]", "ok"),
    # not in a single equation (a condition on a new case), not where the chain gives the name a value again
    (r"At \( x = 0 \) the curve is below the axis. Solving \( 2x^2 - 9 = 0 \) gives the crossings.", "unchecked"),
    (r"First \( y = 0 \). In the second case \( y = 2(0) - 6 = -6 \).", "ok"),
    # a name given two values (cases) defines nothing
    (r"If \( x = 1 \) then \( x + x + 1 = 2 + 1 = 3 \); if \( x = 2 \) then \( x + x + 1 = 4 + 1 = 5 \).", "ok"),
]


@pytest.mark.parametrize(("text", "expected"), DEFINED_NAMES)
def test_defined_names(text: str, expected: str) -> None:
    assert verdict(text) == expected, check_step(text)

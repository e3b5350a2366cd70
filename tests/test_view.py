"""The trace viewer: real SolveResult / refine rows (made with FAKE engines) -> static HTML; a headless-Chromium
screenshot proves the page renders with its verdict colours."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from agent import refine_batch, solve_with_critic
from critic.engines.fake import FakeScriptedEngine
from eval.cli import view_main
from eval.view import COLOURS, ViewError, load_results, render_html, write_view

PROBLEM = "Tom has 3 <b>apples</b> & buys 5 more. How many? <script>alert('x')</script>"
FIRST = " Tom starts with 3 apples.\n\nStep 2: He buys 5 more: 3 + 5 = 9.\n\nStep 3: The answer is \\boxed{9}."
FIXED = " He buys 5 more: 3 + 5 = 8.\n\nStep 3: The answer is \\boxed{8}."
REJECT = ("**Critique of Step 1**\nStarting amount matches the problem.\n**Judgement**: \\boxed{1}\n\n"
          "**Critique of Step 2**\n3 + 5 is 8, not 9 <wrong>.\n**Judgement**: \\boxed{-1}\n\n**Answer**: \\boxed{2}")
ACCEPT = ("**Critique of Step 1**\nOK.\n**Judgement**: \\boxed{1}\n\n**Critique of Step 2**\nOK.\n"
          "**Judgement**: \\boxed{1}\n\n**Critique of Step 3**\nOK.\n**Judgement**: \\boxed{1}\n\n"
          "**Answer**: \\boxed{-1}")


def generator(chat, sampling, index):
    first_attempt = chat[-1]["content"] == "Step 1:" and "reviewer" not in chat[-2]["content"]
    return FIRST if first_attempt else FIXED


def critic(chat, sampling, index):
    return REJECT if "= 9" in chat[-1]["content"] else ACCEPT


@pytest.fixture
def solve_json(tmp_path):
    result = solve_with_critic(PROBLEM, generator=FakeScriptedEngine(generator), critic=FakeScriptedEngine(critic),
                               max_rounds=3, sympy="veto")
    assert result.rounds == 2 and result.accepted  # the fixture really refines once
    path = tmp_path / "solve.json"
    path.write_text(result.model_dump_json(indent=2))
    return path


def test_solve_result_page(solve_json):
    [result] = load_results(solve_json)
    html = render_html([result])
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "&lt;b&gt;apples&lt;/b&gt; &amp; buys" in html
    assert "not 9 &lt;wrong&gt;" in html  # critique text beside its step, escaped
    assert 'class="wrong sympy-wrong first-wrong"' in html  # step 2 of round 1: critic and SymPy both
    assert 'class="correct"' in html
    assert "3 + 5 = 9 - left side is 8, step states 9" in html  # SymPy evidence
    assert "refined: kept step 1, regenerated from step 2" in html
    assert "Replaced steps of round 1" in html and '<span class="tag">kept</span>' in html
    assert "Feedback to the generator" in html
    assert "<script" not in html.lower().replace("&lt;script", "")  # a static page: no scripts at all


def test_refine_rows_and_errors(tmp_path):
    rows = [{"id": "a", "problem": "What is 3 + 5?", "steps": ["3 + 5 = 9.", "The answer is \\boxed{9}."],
             "answer": "8"},
            {"id": "b", "problem": "", "steps": ["x"]}]
    out = tmp_path / "refined.jsonl"
    refine_batch(rows, out, generator=FakeScriptedEngine(generator), critic=FakeScriptedEngine(critic),
                 progress=False)
    page = tmp_path / "page.html"
    assert view_main([str(out), "-o", str(page)]) == 0
    html = page.read_text()
    assert re.search(r'<a href="#r\d">a</a>', html) and "error: " in html  # navigation, and row b's error
    assert "before: wrong" in html and "after: right" in html


def test_rejects_other_files(tmp_path, capsys):
    bad = tmp_path / "metrics.json"
    bad.write_text(json.dumps({"gsm8k": {"f1": 0.5}}))
    with pytest.raises(ViewError):
        load_results(bad)
    assert view_main([str(bad)]) == 2
    assert view_main([str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize("row", [
    # eval error-id predictions: an "error" key (null) but no trace
    {"key": "gsm8k/1", "id": "1", "label0": 2, "pred_label0": -1, "status": "ok", "critique": "…", "error": None},
    {"id": "x", "problem": "What is 2 + 2?", "error": None},  # a finished row without a trace
    {"id": "y", "problem": "What is 2 + 2?", "error": ""},
])
def test_rows_that_are_no_result_are_refused_not_drawn_empty(tmp_path, capsys, row):
    src = tmp_path / "predictions.jsonl"
    src.write_text(json.dumps(row) + "\n")
    with pytest.raises(ViewError, match="not a solve/refine result"):
        load_results(src)
    assert view_main([str(src)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and ("eval report" in err) == ("pred_label0" in row)
    assert not (tmp_path / "predictions.html").exists()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's `chromium` package is not installed "
                                             "(apt-get install -y chromium) - the screenshot check needs it")
def test_page_renders_in_headless_chromium(solve_json, tmp_path):
    from PIL import Image

    page = write_view(solve_json, tmp_path / "view.html")
    shot = tmp_path / "shot.png"
    width, height = 1200, 900
    # --no-sandbox: Chromium refuses its sandbox as root and containers often lack the namespaces it needs; the page
    # is our own static file.
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update",
           "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
           f"--screenshot={shot}", f"--window-size={width},{height}", page.resolve().as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    assert shot.is_file()
    image = Image.open(shot).convert("RGB")
    assert image.size == (width, height)
    colours = image.getcolors(maxcolors=width * height)
    assert len(colours) > 50  # text and boxes, not a blank page

    def share(hex_colour: str) -> float:
        target = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        near = sum(n for n, c in colours if all(abs(a - b) <= 6 for a, b in zip(c, target)))
        return near / (width * height)

    assert share(COLOURS["correct"]) > 0.005  # green verdict cells are on screen
    assert share(COLOURS["wrong"]) > 0.002  # and the red one

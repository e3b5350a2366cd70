"""Reproducing published protocols: templates as data, protocol presets, the reference answer rule and vote filter,
strict eval configs and like-with-like comparison with published numbers.

Engines here are the FAKE scripted engine (it records every chat and sampling it receives): these are control-flow
tests of what reaches the engine and the aggregator, not of any model. Templates are written by the tests in the
placeholder format of the public repositories (our own wording, not theirs).
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest

import critic.engines
from critic.data import load_dataset_by_name
from critic.engines.fake import FakeScriptedEngine
from critic.prompts import (
    CRITIC_SYSTEM,
    CriticPrompt,
    GeneratorPrompt,
    PromptTemplate,
    TeacherPrompts,
    TemplateError,
    tag_paragraphs,
)
from critic.protocol import PROTOCOLS, has_answer_marker, parse_reference, reference_box, reference_int
from critic.steps import join_steps, number_steps
from eval.cli import main
from eval.error_id import ErrorIdConfig, run_error_id
from eval.metrics import filter_votes, sample_scores, vote_winner

CRITIC_TEMPLATE = "Check this.\n[P]\n{problem}\n[S]\n{tagged_response}\nPut the index in \\boxed{{}}.\n"


@pytest.fixture
def pb_gsm8k(fixtures_dir):
    return str(fixtures_dir / "processbench_gsm8k.json")


@pytest.fixture
def template_file(tmp_path):
    path = tmp_path / "critic.txt"
    path.write_text(CRITIC_TEMPLATE)
    return path


def rows_of(run_dir):
    return [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines() if line.strip()]


# --- templates ---------------------------------------------------------------------------------------------------


def test_template_renders_str_format_byte_for_byte(template_file):
    t = PromptTemplate.load(template_file, "critic")
    assert t.placeholders == {"problem", "tagged_response"}
    assert t.sha256 == hashlib.sha256(template_file.read_bytes()).hexdigest()
    out = t.render(problem="2+2? {x}", tagged_response="Step 1: 4")
    assert out == "Check this.\n[P]\n2+2? {x}\n[S]\nStep 1: 4\nPut the index in \\boxed{}.\n"  # nothing stripped


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{problem} only", "needs the placeholder {tagged_response}"),
        ("{problem} {tagged_response} {solution}", "unknown placeholder {solution}"),
        ("{problem} {tagged_response} \\boxed{}", "not a plain name"),
        ("{problem} {tagged_response} {0}", "not a plain name"),
        ("{problem.upper} {tagged_response}", "not a plain name"),
        ("{problem!r} {tagged_response}", "not a plain name"),
        ("{problem} {tagged_response} \\boxed{", "not a str.format template"),
        ("{problem} {tagged_response} }", "not a str.format template"),
    ],
)
def test_bad_templates_fail_with_one_line(tmp_path, text, message):
    path = tmp_path / "t.txt"
    path.write_text(text)
    with pytest.raises(TemplateError, match=message.replace("{", "\\{").replace("}", "\\}").replace(".", "\\.")) as e:
        PromptTemplate.load(path, "critic")
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_missing_or_non_utf8_template_file(tmp_path):
    with pytest.raises(TemplateError, match="no such template file"):
        PromptTemplate.load(tmp_path / "nope.txt", "critic")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe{problem}")
    with pytest.raises(TemplateError, match="not UTF-8"):
        PromptTemplate.load(tmp_path / "bin.txt", "critic")


def test_step_tagging_rules(fixtures_dir):
    steps = [" First, 2+2=4. ", "Step 2: keep", "By Step 1, done.", "last"]
    assert number_steps(steps) == ["Step 1: First, 2+2=4.", "Step 2: keep", "Step 3: By Step 1, done.",
                                   "Step 4: last"]
    # DeepCritic's rule: a step that contains "Step " anywhere keeps no prefix, and steps are not stripped
    assert number_steps(steps, "contains") == ["Step 1:  First, 2+2=4. ", "Step 2: keep", "By Step 1, done.",
                                               "Step 4: last"]
    assert join_steps(steps, "contains") == ("Step 1:  First, 2+2=4. \n\nStep 2: keep\n\n"
                                             "By Step 1, done.\n\nStep 4: last")
    with pytest.raises(ValueError, match="startswith, contains"):
        number_steps(steps, "anywhere")
    # fixture rows that render differently under the two rules exist (the reason the option exists)
    rows = load_dataset_by_name(str(fixtures_dir / "processbench_math.json"))
    assert any(join_steps(r.steps, "contains") != join_steps(r.steps) for r in rows)


def test_paragraph_tagging_is_zero_based_and_keeps_steps_as_written():
    assert tag_paragraphs(["a ", "b"]) == "<paragraph_0>\na \n</paragraph_0>\n\n<paragraph_1>\nb\n</paragraph_1>"


def test_system_prompt_resolution(template_file):
    ours = CriticPrompt()
    assert ours.messages("p", ["s"])[0] == {"role": "system", "content": CRITIC_SYSTEM}
    assert [m["role"] for m in CriticPrompt(system_prompt="none").messages("p", ["s"])] == ["user"]
    assert CriticPrompt(system_prompt="Be brief.").messages("p", ["s"])[0]["content"] == "Be brief."
    templated = CriticPrompt.from_settings(template=template_file)
    assert [m["role"] for m in templated.messages("p", ["s"])] == ["user"]  # a template's default: no system
    assert CriticPrompt.from_settings(template=template_file,
                                      system_prompt="X").messages("p", ["s"])[0]["content"] == "X"
    with pytest.raises(ValueError, match="tool notes"):
        templated.messages("p", ["s"], tool_notes="2+2=4 holds")


def test_teacher_templates_whole_solution_or_prefix(tmp_path):
    (tmp_path / "initial.txt").write_text("P={problem}\nS={solution}\nJudge step {step_index}.")
    (tmp_path / "merge.txt").write_text("{example1}|{original_critique}|{critique_of_original_critique}")
    initial = PromptTemplate.load(tmp_path / "initial.txt", "initial")
    merge = PromptTemplate.load(tmp_path / "merge.txt", "merge")
    steps = ["a", "b", "c"]
    whole = TeacherPrompts(initial=initial, context="whole").initial_messages("q", steps, 2)
    assert whole == [{"role": "user", "content": "P=q\nS=Step 1: a\n\nStep 2: b\n\nStep 3: c\nJudge step 2."}]
    prefix = TeacherPrompts(initial=initial, context="prefix", system_prompt="T").initial_messages("q", steps, 2)
    assert prefix == [{"role": "system", "content": "T"},
                      {"role": "user", "content": "P=q\nS=Step 1: a\n\nStep 2: b\nJudge step 2."}]
    with pytest.raises(TemplateError, match="example1"):
        TeacherPrompts(merge=merge)
    merged = TeacherPrompts(merge=merge, examples=("EX",)).merge_messages("q", steps, 1, "first", "second")
    assert merged[-1]["content"] == "EX|first|second"
    # our wording: "whole" shows every step, "prefix" only those up to the judged one
    ours_whole = TeacherPrompts(context="whole").initial_messages("q", steps, 1)[-1]["content"]
    ours_prefix = TeacherPrompts().initial_messages("q", steps, 1)[-1]["content"]
    assert "Step 3: c" in ours_whole and "Step 3: c" not in ours_prefix


def test_generator_template_keeps_the_step_one_prefill(tmp_path):
    (tmp_path / "gen.txt").write_text("Solve: {problem}")
    chat = GeneratorPrompt(PromptTemplate.load(tmp_path / "gen.txt", "generator"),
                           "Think step by step.").messages("1+1")
    assert chat == [{"role": "system", "content": "Think step by step."}, {"role": "user", "content": "Solve: 1+1"},
                    {"role": "assistant", "content": "Step 1:"}]


# --- the reference answer rule and the vote filter ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "box", "value"),
    [
        ("**Answer**: \\boxed{3}", "3", 3),
        ("\\boxed{1} then \\boxed{ -1 }", "-1", -1),
        ("\\boxed{\\text{3}}", "\\text{3", None),  # up to the first "}": a decorated box is no answer
        ("\\boxed{Step 2}", "Step 2", None),
        ("no box at all", None, None),
        ("\\boxed{+2}", "+2", 2),
    ],
)
def test_reference_box_rule(text, box, value):
    assert reference_box(text) == box
    assert reference_int(box) == value


def test_parse_reference_in_both_index_bases():
    assert parse_reference("\\boxed{2}", 3, index_base=1).first_wrong_step1 == 2
    assert parse_reference("\\boxed{2}", 3, index_base=0).first_wrong_step1 == 3  # paragraph 2 = Step 3
    assert parse_reference("\\boxed{0}", 3, index_base=1).status == "unparsed"  # 0 is no step: never right
    assert parse_reference("\\boxed{3}", 3, index_base=0).status == "unparsed"
    assert parse_reference("cut off", 3, "length", index_base=1).status == "truncated"
    assert has_answer_marker("x **Answer**: \\boxed{1}") and not has_answer_marker("Answer: \\boxed{1}")


def test_votes_count_raw_strings_and_the_filter_drops_voters():
    # reference voting: the unreadable string "\\text{2" outvotes the readable "2" and the prediction is None
    preds = [None, None, 1]
    assert vote_winner(preds, ["\\text{2", "\\text{2", "2"]) is None
    assert vote_winner(preds) == 1  # ours: unreadable samples do not vote
    assert filter_votes(["2", "3", "3"], [True, False, False]) == ["2", None, None]
    assert sample_scores(1, [1, 2, 2], "maj", votes=filter_votes([1, 2, 2], [True, False, False])) == (1.0, 0.0)


# --- presets reach the config, the engine and the aggregator -------------------------------------------------------


def test_presets_fill_only_what_was_not_given():
    dc = ErrorIdConfig(protocol="deepcritic")
    assert (dc.decoding, dc.k, dc.temperature, dc.top_p, dc.max_tokens, dc.seed) == ("sample", 1, 0.6, 0.9, 32768, 42)
    assert (dc.step_tagging, dc.system_prompt, dc.extraction, dc.vote_filter) == ("contains", "none", "reference",
                                                                                   "answer_marker")
    maj = ErrorIdConfig(protocol="deepcritic", decoding="maj")
    assert (maj.k, maj.temperature, maj.top_p) == (8, 1.0, 0.9)
    pb = ErrorIdConfig(protocol="processbench")
    assert (pb.prompt, pb.decoding, pb.temperature, pb.max_tokens, pb.extraction) == (
        "processbench", "greedy", 0.0, 8192, "reference")
    assert ErrorIdConfig(protocol="processbench", max_tokens=32768).max_tokens == 32768  # long-CoT critics
    assert ErrorIdConfig(protocol="deepcritic", vote_filter="none", k=4).k == 4
    ours = ErrorIdConfig()
    assert (ours.decoding, ours.max_tokens, ours.extraction, ours.step_tagging) == ("greedy", 2048, "ours",
                                                                                     "startswith")
    assert ErrorIdConfig(protocol="deepcritic", prompt="processbench").step_tagging == "startswith"
    with pytest.raises(ValueError, match="no sample decoding"):
        ErrorIdConfig(protocol="processbench", decoding="sample")
    assert set(PROTOCOLS) == {"ours", "deepcritic", "processbench"}


def test_deepcritic_preset_reaches_engine_and_aggregator(tmp_path, pb_gsm8k, template_file):
    samples = {s.problem: s for s in load_dataset_by_name(pb_gsm8k)}

    def voting_engine() -> FakeScriptedEngine:
        """Per solution, 3 of 8 samples box the right step after **Answer**:, 5 box a wrong one without it."""
        count = iter(range(10_000))

        def voting(chat, sampling, index):
            s = next(s for p, s in samples.items() if p in chat[-1]["content"])
            right = s.label0 + 1 if s.label0 >= 0 else -1
            wrong = 2 if right != 2 else 3
            return f"**Answer**: \\boxed{{{right}}}" if next(count) % 8 < 3 else f"Final: \\boxed{{{wrong}}}"

        return FakeScriptedEngine(voting)

    engine = voting_engine()
    config = ErrorIdConfig(critic="fake", data=[pb_gsm8k], protocol="deepcritic", decoding="maj",
                           prompt_template=str(template_file), limit=6)
    metrics = run_error_id(config, tmp_path / "dc", engine=engine, progress=False)
    # sampling: the preset's, as the engine received it
    assert {(s.n, s.temperature, s.top_p, s.max_tokens, s.seed) for s in engine.samplings} == {(8, 1.0, 0.9, 32768, 42)}
    # prompt: the template, no system message, Step tagging by DeepCritic's rule
    for chat in engine.calls:
        assert len(chat) == 1 and chat[0]["role"] == "user"
        s = next(s for p, s in samples.items() if p in chat[0]["content"])
        assert chat[0]["content"] == CRITIC_TEMPLATE.replace("{problem}", s.problem).replace(
            "{tagged_response}", join_steps(s.steps, "contains")).replace("{{}}", "{}")
    # aggregator: 3 marked right votes beat 5 unmarked wrong ones only because of the vote filter
    assert metrics["average"]["acc_err"] == 1.0 and metrics["average"]["acc_cor"] == 1.0
    plain = ErrorIdConfig(critic="fake", data=[pb_gsm8k], protocol="deepcritic", decoding="maj", vote_filter="none",
                          prompt_template=str(template_file), limit=6)
    unfiltered = run_error_id(plain, tmp_path / "nofilter", engine=voting_engine(), progress=False)
    assert unfiltered["average"]["f1"] == 0.0
    record = json.loads((tmp_path / "dc" / "config.json").read_text())["prompts"]["critic"]
    assert record["template"]["sha256"] == hashlib.sha256(template_file.read_bytes()).hexdigest()
    assert record["system"] is None and record["first_prompt"] == engine.calls[0]


def test_reference_extraction_versus_ours_on_decorated_boxes(tmp_path, pb_gsm8k):
    reply = FakeScriptedEngine(["**Answer**: \\boxed{\\text{-1}}"])
    ours = run_error_id(ErrorIdConfig(critic="fake", data=[pb_gsm8k], limit=8), tmp_path / "ours", engine=reply,
                        progress=False)
    ref = run_error_id(ErrorIdConfig(critic="fake", data=[pb_gsm8k], limit=8, extraction="reference"),
                       tmp_path / "ref", engine=FakeScriptedEngine(["**Answer**: \\boxed{\\text{-1}}"]),
                       progress=False)
    assert ours["average"]["acc_cor"] == 1.0 and ours["average"]["unparsed"] == 0.0
    assert ref["average"]["acc_cor"] == 0.0 and ref["average"]["unparsed"] == 1.0


def test_processbench_preset_sends_zero_based_paragraphs_greedy(tmp_path, pb_gsm8k):
    engine = FakeScriptedEngine(["The first error is in paragraph 0: \\boxed{0}"])
    config = ErrorIdConfig(critic="fake", data=[pb_gsm8k], protocol="processbench", limit=3)
    run_error_id(config, tmp_path / "pb", engine=engine, progress=False)
    assert {(s.n, s.temperature, s.max_tokens, s.seed) for s in engine.samplings} == {(1, 0.0, 8192, 42)}
    assert all(len(c) == 1 and "<paragraph_0>\n" in c[0]["content"] for c in engine.calls)
    assert all(r["pred_label0"] == 0 and r["pred_step1"] == 1 for r in rows_of(tmp_path / "pb"))


# --- the CLI: templates byte for byte, one-line errors -------------------------------------------------------------


@pytest.fixture
def cli_fake(monkeypatch):
    engine = FakeScriptedEngine(["**Answer**: \\boxed{-1}"], name="fake")
    real = critic.engines.get_engine
    monkeypatch.setattr(critic.engines, "get_engine", lambda spec, **kw: engine if spec == "fake" else real(spec, **kw))
    return engine


def test_cli_template_and_no_system_prompt_reach_the_engine_byte_for_byte(tmp_path, pb_gsm8k, template_file,
                                                                          cli_fake, capsys):
    out = tmp_path / "run"
    assert main(["error-id", "--critic", "fake", "--data", pb_gsm8k, "--limit", "3", "--prompt-template",
                 str(template_file), "--system-prompt", "none", "-o", str(out), "--no-progress"]) == 0
    first = load_dataset_by_name(pb_gsm8k, limit=3, seed=0)
    expected = [[{"role": "user", "content": CRITIC_TEMPLATE.format(problem=s.problem,
                                                                    tagged_response=join_steps(s.steps))}]
                for s in first]
    assert sorted(map(json.dumps, cli_fake.calls)) == sorted(map(json.dumps, expected))


def test_cli_one_line_errors(tmp_path, pb_gsm8k, cli_fake, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("Only {problem} here.")
    assert main(["error-id", "--critic", "fake", "--data", pb_gsm8k, "--prompt-template", str(bad),
                 "-o", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs the placeholder {tagged_response}" in err
    (tmp_path / "run.yaml").write_text(f"critic: fake\ndata: [{pb_gsm8k}]\ntempreature: 0.5\n")
    assert main(["error-id", "--config", str(tmp_path / "run.yaml"), "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown key 'tempreature'" in err and "'temperature'" in err
    (tmp_path / "sys.yaml").write_text("critic: fake\nsystem_promt: none\n")
    assert main(["error-id", "--config", str(tmp_path / "sys.yaml"), "-o", str(tmp_path / "c")]) == 2
    assert "nearest valid key: 'system_prompt'" in capsys.readouterr().err
    assert cli_fake.calls == []


def test_refine_and_tts_configs_are_strict():
    from pydantic import ValidationError

    from eval.refine_success import RefineConfig
    from eval.tts import TtsConfig

    for model in (RefineConfig, TtsConfig):
        with pytest.raises(ValidationError, match="extra"):
            model(critic_max_token=10)


# --- published numbers: like with like ----------------------------------------------------------------------------


def test_reference_numbers_compare_only_common_subsets(tmp_path, fixtures_dir, capsys):
    data = [str(fixtures_dir / "processbench_gsm8k.json"), str(fixtures_dir / "processbench_math.json")]
    out = tmp_path / "sympy"
    run_error_id(ErrorIdConfig(critic="sympy", data=data), out, progress=False)
    ref = tmp_path / "paper.yaml"
    ref.write_text("name: Paper critic\nsource: Table 9 of a test paper\nsubsets:\n  gsm8k: 50.0\n"
                   "  omnimath: {f1: 30.0}\n  prm800k: 40.0\naverage: 40.0\naverage_over: [gsm8k, omnimath, prm800k]\n")
    assert main(["report", str(out), "--reference", str(ref)]) == 0
    text = (out / "report.md").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    ours = 100 * metrics["processbench_gsm8k"]["f1"]
    assert f"| processbench_gsm8k | {ours:.1f} | 50.0 | {ours - 50:+.1f} |" in text
    assert f"| **average over these 1** | {ours:.1f} | 50.0 |" in text
    assert "present on both sides only: processbench_gsm8k" in text
    assert "Only in this run (left out of the comparison): processbench_math" in text
    assert "Only in the reference (not run here): omnimath, prm800k" in text
    assert "own average over gsm8k, omnimath, prm800k is 40.0; it is quoted, not compared" in text
    (tmp_path / "typo.yaml").write_text("name: x\nsource: y\nsubset: {}\n")
    assert main(["report", str(out), "--reference", str(tmp_path / "typo.yaml")]) == 2
    assert "nearest valid key: 'subsets'" in capsys.readouterr().err


@pytest.mark.parametrize("subsets, says", [
    ("{gsm8k: 150.0}", "gsm8k: f1 150.0 is not a percentage"),
    ("{gsm8k: -1}", "gsm8k: f1 -1.0 is not a percentage"),
    ("{math: {acc_err: 101}}", "math: acc_err 101.0 is not a percentage"),
    ("{gsm8k: 0.5, math: 0.623}", "write percentages"),  # fractions by mistake
])
def test_reference_numbers_must_be_percentages(tmp_path, subsets, says):
    from critic.configs import ConfigError
    from eval.reference import load_reference

    ref = tmp_path / "ref.yaml"
    ref.write_text(f"name: x\nsource: y\nsubsets: {subsets}\n")
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_reference(ref)
    ref.write_text("name: x\nsource: y\nsubsets: {gsm8k: 0.0, math: 62.3, omnimath: 100}\n")
    assert load_reference(ref).metric("omnimath") == 100.0


def test_readme_reproduction_commands_parse_into_the_documented_presets(tmp_path, monkeypatch):
    """The README's copy-paste commands are valid flags and give the presets the table documents."""
    import re
    import shlex
    from pathlib import Path

    from eval.cli import _config_fields, build_parser

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index("### Reproducing the paper")
    section = readme[start:readme.index("\n## ", start)]  # up to the next top-level section
    commands = [c.replace("\\\n", " ") for c in re.findall(r"deepcritic eval error-id (?:\\\n|[^\n])*", section)]
    assert len(commands) == 3
    configs = []
    for command in commands:
        argv = shlex.split(command.replace("$DC", "dc.txt").replace("$PB", "pb.txt"))[2:]
        args = build_parser().parse_args(argv)
        configs.append(ErrorIdConfig(**_config_fields(args)))
    pass1, maj8, pb = configs
    assert (pass1.protocol, pass1.decoding, pass1.temperature, pass1.max_tokens) == ("deepcritic", "sample", 0.6, 32768)
    assert (maj8.decoding, maj8.k, maj8.vote_filter) == ("maj", 8, "answer_marker")
    assert (pb.prompt, pb.decoding, pb.max_tokens, pb.extraction) == ("processbench", "greedy", 8192, "reference")


def test_agent_critique_cli_takes_the_template_and_system_prompt(tmp_path, template_file, monkeypatch, capsys):
    import agent.solve
    from agent.cli import main as agent_main

    engine = FakeScriptedEngine(["**Answer**: \\boxed{-1}"], name="fake")
    monkeypatch.setattr(agent.solve, "resolve_engine", lambda spec: engine)
    solution = tmp_path / "s.json"
    solution.write_text(json.dumps({"problem": "What is 2+2?", "steps": ["2+2=4.", "By Step 1, \\boxed{4}."]}))
    assert agent_main(["critique", str(solution), "--critic", "fake", "--sympy", "off", "--prompt-template",
                       str(template_file), "--system-prompt", "none", "--step-tagging", "contains"]) == 0
    assert engine.calls == [[{"role": "user", "content": CRITIC_TEMPLATE.format(
        problem="What is 2+2?", tagged_response="Step 1: 2+2=4.\n\nBy Step 1, \\boxed{4}.")}]]
    assert agent_main(["critique", str(solution), "--critic", "fake",
                       "--prompt-template", str(tmp_path / "none.txt")]) == 2
    assert "no such template file" in capsys.readouterr().err

"""The whole recipe at toy scale with the real embedded model, real vLLM and real trl; nothing is mocked.

GSM8K train problems -> Monte-Carlo labels -> seed critiques (the embedded model as teacher) -> SFT -> the SFT folder
critiques through the vLLM engine -> GRPO with the first-error reward -> the GRPO folder critiques through vLLM.

Two settings are relaxed, and only because SmolLM2-135M is far too weak for the real filters to let anything through:
``require_mixed: false`` (its solutions are almost never right, so problems with only wrong solutions are labelled
too, by the same first-error rule) and ``keep_disagreeing: true`` (its critiques almost never agree with the labels;
the SFT rows then carry the labels' verdicts with the teacher's merged text). Both are visible in the stats files and
asserted below. Each stage runs in its own process through the CLI, as a user would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]

# mc-label and seed share one process (and so one vLLM engine), as a user chaining them from Python would.
LABEL_AND_SEED = """
import json, sys
from training.cli import main
out = sys.argv[1]
assert main(["mc-label", "--config", "training/recipes/cpu-smoke-mc-label.yaml", "--output_dir", out + "/mc",
             "--limit", "3", "--num_solutions", "8", "--solve_max_tokens", "192", "--rollouts", "2",
             "--high_min", "1", "--rollout_max_tokens", "64", "--require_mixed", "false",
             "--eval_sets", "tests/fixtures/gsm8k_test.jsonl", "tests/fixtures/math500.jsonl"]) == 0
assert main(["seed", "--config", "training/recipes/cpu-smoke-seed.yaml", "--input", out + "/mc/labels.jsonl",
             "--output_dir", out + "/seed", "--limit", "2", "--deep_samples", "2", "--max_tokens", "64",
             "--max_easy_correct", "1", "--keep_disagreeing", "true"]) == 0
"""

# Load a trained folder in the vLLM engine and critique one labelled solution with it.
CRITIQUE_WITH_VLLM = """
import json, sys
from critic.engines import get_engine, close_engines
from critic.engines.base import Sampling
from critic.parse import parse_critique
from critic.prompts import critic_messages
from critic.records import Critique
from training.inputs import load_labeled_solutions

folder, labels, report = sys.argv[1], sys.argv[2], sys.argv[3]
solution = load_labeled_solutions(labels)[0]
engine = get_engine("vllm:" + folder, max_model_len=2048)
generation = engine.generate([critic_messages(solution.problem, solution.steps)], Sampling(max_tokens=96))[0][0]
critique = parse_critique(generation, len(solution.steps), generation.finish_reason)
assert isinstance(critique, Critique)
json.dump({"status": critique.status, "tokens": generation.num_tokens, "text": str(generation)}, open(report, "w"))
close_engines()
"""


def run(stage: str, args: list[str]) -> None:
    start = time.monotonic()
    # Built per call, from the environment the test runs in (conftest hides the benchmark folder from this test).
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True)
    print(f"e2e stage {stage}: {time.monotonic() - start:.0f} s")
    assert proc.returncode == 0, f"{stage} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"


def log_history(folder: Path) -> list[dict]:
    return json.loads((folder / "trainer_state.json").read_text())["log_history"]


# ~5 min on an idle 2-core machine; far longer when other processes share the cores.
@pytest.mark.timeout(2400)
def test_recipe_end_to_end(tmp_path):
    out = tmp_path

    run("mc-label + seed", [sys.executable, "-c", LABEL_AND_SEED, str(out)])
    mc_stats = json.loads((out / "mc/stats.json").read_text())
    assert mc_stats["require_mixed"] is False and mc_stats["problems_done"] == 3
    # decontamination ran against real eval files (committed excerpts: the test cannot see the benchmark folder)
    assert mc_stats["contamination"]["checked"] == ["tests/fixtures/gsm8k_test.jsonl", "tests/fixtures/math500.jsonl"]
    labels = out / "mc/labels.jsonl"
    assert mc_stats["labelled"] >= 1, f"no labelled solution: {mc_stats}"
    seed_stats = json.loads((out / "seed/stats.json").read_text())
    assert seed_stats["keep_disagreeing"] is True and seed_stats["examples"] >= 1
    # the honest count: rows whose teacher verdicts disagreed with the labels are marked, not hidden
    assert seed_stats["examples_disagreeing"] == sum(
        not json.loads(line)["agreed"] for line in (out / "seed/train.jsonl").read_text().splitlines()
    )

    sft = out / "sft"
    run(
        "sft",
        [sys.executable, "-m", "training.cli", "sft", "--config", "training/recipes/cpu-smoke-sft.yaml",
         "--dataset_name", str(out / "seed"), "--output_dir", str(sft), "--max_train_samples", "2",
         "--per_device_train_batch_size", "2", "--max_steps", "3", "--learning_rate", "1e-4",
         "--save_steps", "3"],
    )
    losses = [entry["loss"] for entry in log_history(sft) if "loss" in entry]
    # the same batch every step (at most 2 rows, batch 2): the loss must fall
    assert len(losses) == 3 and losses[-1] < losses[0], losses
    assert (sft / "model.safetensors").is_file() and (sft / "tokenizer_config.json").is_file()

    run("vllm loads sft", [sys.executable, "-c", CRITIQUE_WITH_VLLM, str(sft), str(labels), str(out / "sft.json")])
    assert json.loads((out / "sft.json").read_text())["tokens"] > 0

    rl = out / "rl"
    run(
        "rl",
        [sys.executable, "-m", "training.cli", "rl", "--config", "training/recipes/cpu-smoke-rl.yaml",
         "--model_name_or_path", str(sft), "--dataset_name", str(labels), "--output_dir", str(rl),
         "--max_steps", "2", "--max_completion_length", "24"],
    )
    logged = [entry for entry in log_history(rl) if "reward" in entry]
    assert len(logged) == 2 and all("rewards/first_error_reward/mean" in entry for entry in logged)

    run("vllm loads rl", [sys.executable, "-c", CRITIQUE_WITH_VLLM, str(rl), str(labels), str(out / "rl.json")])
    assert json.loads((out / "rl.json").read_text())["tokens"] > 0

"""Benchmark: seconds per SFT step and per GRPO step for the embedded model on this machine, and the share of a GRPO
step spent generating rollouts.

Real trl, real embedded SmolLM2-135M, the CPU smoke recipes (bundled critiques: prompt + critique ~400-700 tokens)
with a few overrides; the first step of each run is a warm-up and not timed. Run: ``python -m eval.bench.training``.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

SFT_STEPS = 4  # timed steps, after one warm-up step
GRPO_STEPS = 3
GRPO_GENERATIONS = 2
GRPO_COMPLETION_TOKENS = 32


class _StepTimer:
    """A TrainerCallback recording the wall time of every optimizer step."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        timer = self

        class Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                timer._start = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                timer.seconds.append(time.perf_counter() - timer._start)

        self.seconds: list[float] = []
        self._start = 0.0
        self.callback = Callback()


def _recipe_args(module, recipe: str, output_dir: str, extra: list[str]):
    from training.inputs import RECIPES_DIR

    argv = ["--config", str(RECIPES_DIR / recipe), "--output_dir", output_dir, "--save_strategy", "no"] + extra
    return module.make_parser().parse_args_and_config(argv)


def bench_sft(output_dir: str) -> dict:
    """Seconds per SFT step on the CPU smoke recipe (first step excluded), with the batch size and mean tokens per
    example: ``{steps, batch, tokens, step_s}``."""
    from training import sft

    args = _recipe_args(sft, "cpu-smoke-sft.yaml", output_dir, ["--max_steps", str(SFT_STEPS + 1)])
    timer = _StepTimer()
    trainer = sft.build_trainer(*args, callbacks=[timer.callback])
    batch_tokens = sum(len(row["input_ids"]) for row in trainer.train_dataset) / len(trainer.train_dataset)
    trainer.train()
    timed = timer.seconds[1:]
    return {
        "steps": len(timed),
        "batch": args[1].per_device_train_batch_size,
        "tokens": round(batch_tokens),
        "step_s": statistics.mean(timed),
    }


def bench_grpo(output_dir: str) -> dict:
    """Seconds per GRPO step on the CPU smoke recipe (first step excluded) and seconds of it spent generating:
    ``{steps, batch, tokens, step_s, generate_s}``."""
    from training import rl

    extra = [
        "--max_steps", str(GRPO_STEPS + 1),
        "--num_generations", str(GRPO_GENERATIONS),
        "--per_device_train_batch_size", str(GRPO_GENERATIONS),
        "--max_completion_length", str(GRPO_COMPLETION_TOKENS),
    ]
    args = _recipe_args(rl, "cpu-smoke-rl.yaml", output_dir, extra)
    timer = _StepTimer()
    trainer = rl.build_trainer(*args, callbacks=[timer.callback])
    generation_seconds: list[float] = []
    generate = trainer._generate  # trl's rollout entry point (generate + decode), timed from outside

    def timed_generate(*a, **kw):
        start = time.perf_counter()
        try:
            return generate(*a, **kw)
        finally:
            generation_seconds.append(time.perf_counter() - start)

    trainer._generate = timed_generate
    trainer.train()
    steps, generation = timer.seconds[1:], generation_seconds[1:]
    return {
        "steps": len(steps),
        "batch": GRPO_GENERATIONS,
        "tokens": GRPO_COMPLETION_TOKENS,
        "step_s": statistics.mean(steps),
        "generate_s": statistics.mean(generation),
    }


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        sft = bench_sft(os.path.join(tmp, "sft"))
        grpo = bench_grpo(os.path.join(tmp, "grpo"))
    share = grpo["generate_s"] / grpo["step_s"]
    print(
        f"## training (embedded SmolLM2-135M, trl, CPU, torch threads={torch.get_num_threads()}, "
        f"load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after: other processes slow torch a lot)"
    )
    print()
    print("| stage | timed steps | batch | tokens | s/step | generation s/step | generation share | vs SFT step |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| SFT | {sft['steps']} | {sft['batch']} | {sft['tokens']} per row | {sft['step_s']:.2f} | - | - | 1.00x |"
    )
    print(
        f"| GRPO | {grpo['steps']} | {grpo['batch']} completions | {grpo['tokens']} new per completion | "
        f"{grpo['step_s']:.2f} | {grpo['generate_s']:.2f} | {share:.0%} | {grpo['step_s'] / sft['step_s']:.2f}x |"
    )


if __name__ == "__main__":
    main()

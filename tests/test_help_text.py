"""Every command's --help: example command lines keep their line breaks (a lone backslash at the end of a line in a
Python string joins the lines, leaving a run of spaces inside one command)."""

from __future__ import annotations

import re

import pytest

from agent.cli import main

COMMANDS = [[], ["solve"], ["critique"], ["refine"], ["merge"], ["eval"], ["eval", "error-id"], ["eval", "refine"],
            ["eval", "tts"], ["eval", "report"], ["view"], ["train"], ["train", "mc-label"], ["train", "seed"],
            ["train", "sft"], ["train", "rl"]]
SWALLOWED_BREAK = re.compile(r"deepcritic .*\S {4,}--\w")  # "… -7b       --critic-args": two lines run together


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "deepcritic")
def test_help_examples_keep_their_line_breaks(command, capsys):
    try:
        code = main([*command, "--help"])
    except SystemExit as exc:  # argparse's own --help exits
        code = exc.code
    assert code in (0, None)
    text = capsys.readouterr().out
    assert text.startswith(f"usage: {' '.join(['deepcritic', *command])}")  # not "cli.py" or another program
    joined = [line for line in text.splitlines() if SWALLOWED_BREAK.search(line)]
    assert not joined, joined

"""trl's ``TrlParser`` made strict in one line: an unknown recipe key or flag names the nearest valid one.

trl 1.16's ``TrlParser.parse_args_and_config`` already refuses unknown YAML keys, with a ``ValueError`` listing them
as ``--key value`` strings and no suggestion; an unknown command-line flag gets ``HfArgumentParser``'s "Some
specified arguments are not used" error. This subclass checks both first and raises
:class:`critic.configs.ConfigError` (a ValueError) of one line: ``unknown key 'lerning_rate' (nearest valid key:
'learning_rate')``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable

from trl import TrlParser

from critic.configs import ConfigError, read_mapping, unknown_key_line

ALLOWED_EXTRA_KEYS = ("env",)  # TrlParser reads `env:` (environment variables) itself


class StrictTrlParser(TrlParser):
    """``TrlParser`` whose unknown recipe keys and flags fail with one line naming the nearest valid one.

    Abbreviated flags are not expanded (``--learning_rat`` is an unknown flag, not ``--learning_rate``), and argparse's
    own errors (a bad value) raise ConfigError instead of printing the usage and exiting.
    """

    def __init__(self, dataclass_types=None, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(dataclass_types, **kwargs)

    def error(self, message: str):  # argparse's usage errors, as one line
        """argparse's usage errors as ConfigError (its first line) instead of printing usage and exiting."""
        raise ConfigError(message.splitlines()[0] if message else "invalid arguments")

    def option_names(self) -> list[str]:
        """Every destination a recipe key or ``--flag`` can set."""
        names: set[str] = set()
        for action in self._actions:
            if not isinstance(action, argparse._HelpAction) and action.dest != argparse.SUPPRESS:
                names.add(action.dest)
        return sorted(names)

    def parse_args_and_config(self, args: Iterable[str] | None = None, return_remaining_strings: bool = False,
                              fail_with_unknown_args: bool = True, separate_remaining_strings: bool = False):
        """trl's parse with unknown keys refused: a recipe key or a flag that no config field takes is a ConfigError
        naming the nearest valid one (keys in ``ALLOWED_EXTRA_KEYS`` excepted)."""
        args = list(args) if args is not None else sys.argv[1:]
        valid = self.option_names()
        if "--config" in args:
            at = args.index("--config")
            if at + 1 >= len(args):
                raise ConfigError("--config needs a YAML file")
            path = args[at + 1]
            for key in read_mapping(path):
                if key not in valid and key not in ALLOWED_EXTRA_KEYS:
                    raise ConfigError(f"{path}: {unknown_key_line(str(key), valid)}")
        *parsed, remaining = super().parse_args_and_config(args, return_remaining_strings=True)
        flags = [item for item in remaining if item.startswith("-")]
        if remaining and fail_with_unknown_args and not return_remaining_strings:
            key = flags[0] if flags else remaining[0]
            raise ConfigError(unknown_key_line(key, [f"--{name}" for name in valid], what="flag")
                              if flags else f"unexpected argument {key!r}")
        return (*parsed, remaining) if return_remaining_strings else tuple(parsed)


def run_stage(stage: str, parser: TrlParser, main: Callable[..., object], argv: list[str]) -> int:
    """``deepcritic train <stage>``: parse the recipe and flags, then run ``main(*parsed)``. A config problem (unknown
    key or flag, bad value, a checkpoint that cannot resume) is one line on stderr and exit code 2."""
    try:
        parsed = parser.parse_args_and_config(argv)
    except ValueError as exc:  # unknown keys / flags (one line, nearest valid name), invalid values
        print(f"deepcritic train {stage}: error: invalid config: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    try:
        main(*parsed)
    except (ConfigError, FileNotFoundError) as exc:  # e.g. a weights-only checkpoint that cannot resume, no dataset
        from critic.commandline import one_line

        print(f"deepcritic train {stage}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    return 0

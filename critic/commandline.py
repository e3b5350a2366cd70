"""Command lines built from configs, and the one error policy of every ``deepcritic`` command.

:func:`add_config_flags` turns a pydantic config's fields into argparse flags: the help text is the field's
``description`` plus its default, ``Literal`` fields give the choices, ``bool`` fields ``--x`` (true) or
``--x false``, ``list`` fields a repeatable flag. A flag not given stays absent from the namespace
(``argparse.SUPPRESS``), so :func:`config_from_args` can lay the given flags over a ``--config`` YAML file and
leave every other value to the config's own default (defaults are written once: in the config).

:func:`cli_main` runs one command line: the global flags ``--debug`` (full traceback instead of the one-line error)
and ``--verbose`` (library logs and warnings, see :mod:`critic.quiet`), the exit codes of :mod:`critic.jobs` (0 done,
1 some error rows, 2 usage error, 3 engine or server failure) and the one-line usage errors.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import traceback
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from critic.configs import ConfigError, config_error_line, read_mapping

GLOBAL_FLAGS = {
    "--debug": "show the full traceback of an error instead of one line",
    "--verbose": "show library logs and warnings (vLLM, transformers, torch); quiet by default",
}


class UsageError(Exception):
    """A user error: printed as one line, exit code 2."""


@dataclass(frozen=True)
class GlobalFlags:
    """The flags every command takes anywhere on its command line (before a ``--``)."""

    debug: bool = False
    verbose: bool = False


def split_global_flags(argv: Sequence[str]) -> tuple[list[str], GlobalFlags]:
    """``argv`` without ``--debug`` / ``--verbose`` (those before a ``--``), and which of them were given."""
    rest: list[str] = []
    seen: set[str] = set()
    for i, arg in enumerate(argv):
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg in GLOBAL_FLAGS:
            seen.add(arg)
        else:
            rest.append(arg)
    return rest, GlobalFlags(debug="--debug" in seen, verbose="--verbose" in seen)


def global_flags_epilog() -> str:
    """The lines that document the global flags in a command's help."""
    return "global flags (any command):\n" + "".join(f"  {flag:<10} {text}\n" for flag, text in GLOBAL_FLAGS.items())


# ---- flags from a config -------------------------------------------------------------------------------------------


def _unwrap_optional(annotation: Any) -> Any:
    """``X | None`` -> ``X``; anything else unchanged."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def parse_bool(text: str) -> bool:
    """A flag's boolean value: true/false, yes/no, on/off, 1/0 (any case); argparse's type error otherwise."""
    value = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False,
             "0": False}.get(text.strip().lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value


def field_default(model: type[BaseModel], name: str) -> Any:
    """The default of ``model``'s field ``name`` (its factory called), or ``...`` when the field is required."""
    info = model.model_fields[name]
    return ... if info.is_required() else info.get_default(call_default_factory=True)


def field_help(model: type[BaseModel], name: str) -> str:
    """The help text of a field's flag: its description and its default (``required`` when it has none), the
    default once: a description that says its own ``(default: ...)`` gets no second one."""
    info = model.model_fields[name]
    default = field_default(model, name)
    shown = "required" if default is ... else f"default: {default}"
    description = plain_text(info.description or "")
    if default is not ... and "(default:" in description:
        text = description
    else:
        text = f"{description} ({shown})" if description else f"({shown})"
    return text.replace("%", "%%")  # argparse formats help with %


def plain_text(text: str) -> str:
    """Docstring text for a terminal: RST literals ````x```` (and Markdown's single-backtick ones) become ``x``."""
    return re.sub(r"`([^`\n]+)`", r"\1", re.sub(r"``(.+?)``", r"\1", text))


def config_description(model: type[BaseModel]) -> str:
    """A command's help description from its config's docstring (dedented, RST literals as plain text)."""
    return plain_text(inspect.cleandoc(model.__doc__ or ""))


def spellings(flag: str) -> list[str]:
    """``--output_dir`` -> ``["--output_dir", "--output-dir"]``: a long flag and its other separator (the given
    spelling first: it is the one help and errors show); one spelling when the name has no separator."""
    if not flag.startswith("--"):
        return [flag]
    name = flag[2:]
    other = name.replace("_", "-") if "_" in name else name.replace("-", "_")
    return [flag] if other == name else [flag, f"--{other}"]


def add_flag(target: Any, *flags: str, **kwargs: Any) -> argparse.Action:
    """``target.add_argument(*flags, **kwargs)``, plus the other separator of each long flag (:func:`spellings`) as
    a hidden alias (same destination, not shown in help). Returns the shown action."""
    action = target.add_argument(*flags, **kwargs)
    aliases = [alias for flag in flags for alias in spellings(flag)[1:]]
    if aliases:
        target.add_argument(*aliases, **{**kwargs, "dest": action.dest, "help": argparse.SUPPRESS})
    return action


def add_config_flags(
    parser: argparse.ArgumentParser,
    model: type[BaseModel],
    *,
    exclude: Sequence[str] = (),
    names: Mapping[str, Sequence[str]] | None = None,
    separator: Literal["-", "_"] = "-",
    list_nargs: bool = False,
    title: str | None = None,
) -> list[str]:
    """Add one flag per field of ``model`` (except ``exclude``, dict fields and ``Literal`` fields of one value),
    under the heading ``title`` when given; return the field names added.

    The flag is ``--<name>`` with ``_`` written as ``separator``, and the other separator is taken too
    (``--output_dir`` and ``--output-dir``, :func:`add_flag`: a hidden alias); ``names`` gives other spellings, e.g.
    ``{"k": ["-k"]}``. Its default is ``argparse.SUPPRESS``, so only given flags reach the namespace.
    ``list`` fields repeat (``--data a --data b``), or take several values with ``list_nargs``. The flag of each
    field is kept in the namespace (``_flag_names``) so that an invalid value is reported under its flag.
    """
    names = names or {}
    added: list[str] = []
    target = parser.add_argument_group(title) if title else parser
    flag_names: dict[str, str] = {}
    for name, info in model.model_fields.items():
        annotation = _unwrap_optional(info.annotation)
        origin = typing.get_origin(annotation)
        if name in exclude or origin is dict or annotation is dict:
            continue
        choices = list(typing.get_args(annotation)) if origin is Literal else None
        if choices is not None and len(choices) == 1:
            continue  # a fixed tag such as kind: "error-id"
        flags = list(names.get(name) or [f"--{name.replace('_', separator)}"])
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": field_help(model, name)}
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        metavar = extra.get("metavar") or {int: "N", float: "X"}.get(annotation, name.upper())
        if annotation is bool:  # --x alone means true; --x false / --x true as in a YAML file
            kwargs.update(nargs="?", const=True, type=parse_bool, metavar="true|false")
        elif origin is list:
            item = (typing.get_args(annotation) or (str,))[0]
            kwargs.update(type=item if item in (int, float) else str, metavar=extra.get("metavar") or name.upper())
            kwargs.update(nargs="+") if list_nargs else kwargs.update(action="append")
        elif choices is not None:
            kwargs["choices"] = choices
        else:
            kwargs.update(type=annotation if annotation in (int, float) else str, metavar=metavar)
        add_flag(target, *flags, **kwargs)
        flag_names[name] = flags[-1] if flags[-1].startswith("--") else flags[0]
        added.append(name)
    parser.set_defaults(_flag_names={**(parser.get_default("_flag_names") or {}), **flag_names})
    return added


def config_fields(model: type[BaseModel], args: argparse.Namespace, config_file: str | None = None) -> dict[str, Any]:
    """The ``--config`` file's keys, then the flags given for ``model``'s fields over them."""
    fields: dict[str, Any] = dict(read_mapping(config_file)) if config_file else {}
    fields.update({name: getattr(args, name) for name in model.model_fields if hasattr(args, name)})
    return fields


def build_config(model: type[BaseModel], fields: Mapping[str, Any], flags: Mapping[str, str] | None = None) -> Any:
    """``model(**fields)``, or a :class:`ConfigError` of one line: an unknown key names the nearest valid one; a bad
    value of a field given as a long flag is named by the flag and the key (``flags``: field -> flag), else by its
    key."""
    try:
        return model(**fields)
    except ValidationError as e:
        line = config_error_line(e, model)
        for name, flag in (flags or {}).items():
            if flag.startswith("--"):
                line = re.sub(rf"(^|; ){re.escape(name)}:", rf"\g<1>{flag} (config key {name}):", line)
        raise ConfigError(line) from None


def config_from_args(model: type[BaseModel], args: argparse.Namespace, config_file: str | None = None,
                     **extra: Any) -> Any:
    """The config of one command line: ``--config`` file, given flags over it (``extra`` over both), the config's
    defaults for the rest."""
    fields = {**config_fields(model, args, config_file), **extra}
    given = {name: flag for name, flag in (getattr(args, "_flag_names", None) or {}).items() if hasattr(args, name)}
    return build_config(model, fields, given)


def add_config_file_flag(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``: a YAML (or JSON) mapping of the command's config keys; flags given override it."""
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="YAML (or JSON) file of this command's config keys; flags given override it; an unknown "
                             "key is an error")


def add_engine_args_flags(parser: argparse.ArgumentParser, roles: Sequence[str]) -> None:
    """``--<role>-args OPTS`` per engine role (namespace ``<role>_args``, a list): JSON or key=value, repeatable;
    YAML: ``engine_args: {<role>: {...}}``. Checked by critic.engines.options.engine_args_for."""
    for role in roles:
        add_flag(parser, f"--{role}-args", action="append", metavar="OPTS", dest=f"{role}_args",
                            help=f"{role} engine options: JSON or key=value, repeatable (vLLM engine arguments such "
                                 "as tensor_parallel_size=4, or OpenAI engine settings such as max_concurrency=256); "
                                 f"YAML: engine_args: {{{role}: {{...}}}}")


# ---- running a command line ----------------------------------------------------------------------------------------


def one_line(e: BaseException) -> str:
    """The first line of an error's message (its type name when it has none); a pydantic ValidationError as
    ``field: problem`` (critic.configs.config_error_line); a file that open() did not find as ``no such file: X``."""
    if isinstance(e, ValidationError):
        return config_error_line(e)
    if isinstance(e, FileNotFoundError) and e.filename:  # open()'s "[Errno 2] No such file or directory: 'x'"
        return f"no such file: {e.filename}"
    text = str(e)
    return text.strip().splitlines()[0] if text.strip() else type(e).__name__


def _guarded(prog: str, run: Callable[[], int], flags: GlobalFlags) -> int:
    from critic.engines.base import EngineDead, EngineError
    from critic.io import OutputLocked
    from critic.jobs import EXIT_USAGE, engine_failure

    try:
        return int(run() or 0)
    except EngineDead as e:
        if flags.debug:
            traceback.print_exc()
        return engine_failure(prog, e)
    except (UsageError, ConfigError, EngineError, OutputLocked, FileNotFoundError, ValueError) as e:
        if flags.debug:
            traceback.print_exc()
        print(f"{prog}: error: {one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted (rerun the same command to resume)", file=sys.stderr)
        return 130


def run_guarded(prog: str, run: Callable[[], int], argv_flags: GlobalFlags) -> int:
    """Run ``run`` quietly (unless ``--verbose``) under the error policy; the exit code."""
    from critic.quiet import quiet_libraries

    with quiet_libraries(verbose=argv_flags.verbose) as quiet:
        code = _guarded(prog, run, argv_flags)
    quiet.finish(code)
    return code


def command_parser(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.ArgumentParser:
    """The innermost subcommand parser that ``argv`` chose (``deepcritic train mc-label ...`` -> mc-label's), or
    ``parser`` itself when ``argv`` names no subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for at, arg in enumerate(argv):
                if arg in action.choices:
                    return command_parser(action.choices[arg], argv[at + 1:])
    return parser


def cli_main(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, *, prog: str | None = None
) -> int:
    """Parse ``argv`` (global flags taken out first) with ``parser``, whose commands set ``run(args) -> int`` as a
    default, and run the chosen one under the error policy; the exit code (critic.jobs)."""
    from critic.jobs import EXIT_USAGE

    rest, flags = split_global_flags(list(sys.argv[1:] if argv is None else argv))
    try:
        args, unknown = parser.parse_known_args(rest)
        if unknown:  # reported with the usage of the (sub)command that was given, not the top level's
            command_parser(parser, rest).error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as e:  # argparse printed the usage error or the help
        return int(e.code or 0)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return EXIT_USAGE
    return run_guarded(getattr(args, "prog", None) or prog or parser.prog, lambda: run(args), flags)

"""The command line's options, made from the table of operations (``memindex.operations``).

A command that runs an operation gets one argument per parameter of its row: a required parameter is a
positional argument, another one ``--name-with-dashes``; the type, the enum (as ``choices``), the bounds
(checked, with an error naming the option), the description (as the help) and the default are the table's.
``Spelling`` keeps a command's existing spelling where it differs (``query TEXT``, ``--video`` repeated,
``rebuild --stage``). The options that only shape what the CLI prints (``--json``, ``--format``) and where
it reads (``--store``, ``--collection``) are written here, once.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from memindex.errors import QueryError
from memindex.operations import COLLECTION, REQUIRED, Param, operation

__all__ = ["Spelling", "add_operation", "operation_args", "flag_of", "add_json", "add_store", "add_format"]

_CONVERT: dict[str, type] = {"integer": int, "number": float, "string": str}
_KIND = {"integer": "an integer", "number": "a number", "string": "a string"}
_TABLE: Any = REQUIRED  # a Spelling's default that means "the table's default"


@dataclass(frozen=True)
class Spelling:
    """How a command spells one parameter where the default one does not fit.

    ``flags``: option strings (``()``: positional); ``repeat``: an array as a repeatable option
    (``--video A --video B``) instead of ``--videos A B``; ``many``: a single-value parameter the command
    takes several of (``delete VIDEO...``); ``default``/``required``: the command's own."""

    flags: tuple[str, ...] | None = None
    metavar: str | None = None
    repeat: bool = False
    many: bool = False
    default: Any = _TABLE
    required: bool | None = None


def flag_of(param: Param) -> str:
    """The option a parameter gets by default: ``max_steps`` → ``--max-steps``."""
    return "--" + param.name.replace("_", "-")


def add_operation(p: argparse.ArgumentParser, op_name: str, **spellings: Spelling) -> None:
    """One argument per parameter of the operation (``collection`` is the global ``--collection``; the
    wire-only ones, which only shape what a server sends, are not options: the CLI prints the whole result).
    The operation is recorded as the command's ``operation`` default (``operation_args`` reads it back)."""
    op = operation(op_name)
    unknown = set(spellings) - {q.name for q in op.params}
    if unknown:
        raise KeyError(f"{op_name} has no parameter(s) {sorted(unknown)}")
    for param in op.params:
        if not param.wire:
            _add_param(p, param, spellings.get(param.name, Spelling()))
    p.set_defaults(operation=op_name)


def _add_param(p: argparse.ArgumentParser, param: Param, spell: Spelling) -> None:
    flags = spell.flags if spell.flags is not None else (() if param.required else (flag_of(param),))
    kw: dict[str, Any] = {"help": param.description.replace("%", "%%")}
    if param.type == "boolean":
        kw.update(action="store_true")
    else:
        kw.update(type=_parser(param, flags[0] if flags else param.name))
        if param.enum:
            kw.update(choices=param.enum)
        if param.type == "array" and spell.repeat:
            kw.update(action="append", help=kw["help"] + " Repeatable.")
        elif param.type == "array":
            kw.update(nargs="+")
        elif spell.many:
            kw.update(nargs="+")
        if spell.metavar:
            kw.update(metavar=spell.metavar)
    if flags:
        default = param.default if spell.default is _TABLE else spell.default
        kw.update(dest=param.name, default=None if default is REQUIRED else default)
        if spell.required or (spell.required is None and param.required):
            kw.update(required=True)
        p.add_argument(*flags, **kw)
    else:
        p.add_argument(param.name, **kw)


def _parser(param: Param, shown: str) -> Any:
    """The argument's ``type``: the value converted and checked against the table's bounds; out of bounds is
    a ``QueryError`` naming the option (argparse lets it through, so ``main`` prints ``error [bad_query]``)."""
    kind = param.items if param.type == "array" and param.items else param.type
    convert = _CONVERT[kind]

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {_KIND[kind]}") from None
        low, high = param.minimum, param.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"from {low:g} to {high:g}" if low is not None and high is not None else f">= {low:g}"
            raise QueryError(f"{shown} must be {_KIND[kind]} {bounds}, not {text}")
        return value

    parse.__name__ = kind  # argparse names the type in its messages
    return parse


def operation_args(args: argparse.Namespace, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The parsed values of the command's operation, by parameter name (what the library methods take)."""
    op = operation(args.operation)
    return {p.name: getattr(args, p.name) for p in op.params if hasattr(args, p.name) and p.name not in skip}


def add_store(p: argparse.ArgumentParser, top: bool = False) -> None:
    """``--store``/``--collection``: before the command (``top``) and after it (``memindex entities list
    --store S``); after the command they override the ones before."""
    default = None if top else argparse.SUPPRESS
    where = "store directory or server URL (env MEMINDEX_STORE, else ./memindex-store)"
    p.add_argument("--store", default=default, help=where)
    p.add_argument("--collection", default=default, help=COLLECTION.description.replace("%", "%%"))


def add_json(p: argparse.ArgumentParser, what: str = "print the result as JSON (stdout: nothing else)") -> None:
    p.add_argument("--json", action="store_true", help=what)


def add_format(p: argparse.ArgumentParser, choices: tuple[str, ...], help: str | None = None) -> None:
    """``--format``, the first choice the default."""
    p.add_argument("--format", default=choices[0], choices=choices, help=help or f"output format: {', '.join(choices)}")

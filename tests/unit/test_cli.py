"""The command line: every command and option is documented, the commands of operations take the table's
parameters, JSON output is clean, errors are clear."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from memindex.cli import COMMANDS, build_parser, main
from memindex.errors import QueryError
from memindex.operations import OPERATIONS, REQUIRED, operation

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
# Operations the CLI does not offer: served ones (jobs, keyframe bytes, streaming) and reads the CLI shows
# through another command (`show` prints segments, `videos` the videos).
NOT_ON_THE_CLI = {
    "ask_stream",
    "get_segment",
    "screen_text",
    "frames",
    "frame_jpeg",
    "video",
    "add_video",
    "ingest_status",
    "jobs",
    "collections",
    "health",
}
# Where a command keeps its own default over the table's.
OWN_DEFAULTS = {("show", "level"): "video"}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _commands() -> set[str]:
    return set(_subparsers(build_parser()))


def _every_command() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """(``command`` or ``command action``, its parser) for every runnable command."""
    for name, p in _subparsers(build_parser()).items():
        actions = _subparsers(p)
        yield from ((f"{name} {a}", sub) for a, sub in actions.items()) if actions else [(name, p)]


def _sections() -> dict[str, str]:
    """docs/cli.md by command: the text under each ``## memindex NAME`` heading."""
    parts = re.split(r"^## memindex (\w+)\n", DOCS.read_text(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_command_is_documented_and_runs() -> None:
    documented = set(_sections())
    assert _commands() <= documented, _commands() - documented
    assert set(COMMANDS) == _commands()


def test_every_option_is_documented() -> None:
    """Each option of each command (entities actions under `entities`) is named in its section; --store and
    --collection, which every command takes, in the introduction."""
    intro = DOCS.read_text().split("\n## ", 1)[0]
    assert "--store" in intro and "--collection" in intro
    sections, missing = _sections(), []
    for command, p in _every_command():
        section = sections[command.split()[0]]
        for action in p._actions:
            for flag in action.option_strings:
                hidden = action.help == argparse.SUPPRESS or flag in ("-h", "--help", "--store", "--collection")
                if flag.startswith("--") and not hidden and not re.search(re.escape(flag) + r"(?![\w-])", section):
                    missing.append(f"{command} {flag}")
    assert not missing, missing


def test_operation_commands_take_the_tables_parameters() -> None:
    """Every operation the CLI offers has its parameters (all but the wire-only ones) as arguments with the
    table's help, choices, default and requiredness; the others are named in NOT_ON_THE_CLI."""
    offered = set()
    for command, p in _every_command():
        op_name = p.get_default("operation")
        if op_name is None:
            continue
        offered.add(op_name)
        by_dest = {a.dest: a for a in p._actions}
        for param in operation(op_name).params:
            where = f"{command} ({op_name}.{param.name})"
            if param.wire:
                assert param.name not in by_dest, where
                continue
            action = by_dest.get(param.name)
            assert action is not None, f"{where} is not an option"
            assert action.help and action.help.replace("%%", "%").startswith(param.description), where
            assert tuple(action.choices or ()) == (param.enum or ()), where
            if param.required:
                assert action.required or not action.option_strings, where
            else:
                assert action.default == OWN_DEFAULTS.get((command, param.name), param.default), where
                assert param.default is not REQUIRED
    assert offered | NOT_ON_THE_CLI == {op.name for op in OPERATIONS} and not offered & NOT_ON_THE_CLI


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["query", "x", "--k", "101"], "--k must be an integer from 1 to 100, not 101"),
        (["ask", "q", "--max-steps", "0"], "--max-steps must be an integer from 1 to 8, not 0"),
        (["ask", "q", "--min-confidence", "1.5"], "--min-confidence must be a number from 0 to 1, not 1.5"),
        (["query", "x", "--start", "-1"], "--start must be a number >= 0, not -1"),
        (["show", "v", "--end", "-0.5"], "--end must be a number >= 0, not -0.5"),
    ],
)
def test_the_tables_bounds_are_checked(argv, message, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(QueryError, match=re.escape(message)):
        build_parser().parse_args(argv)
    assert main(argv) == 2  # before any store is opened
    err = capsys.readouterr().err
    assert err.startswith("error [bad_query]: ") and message in err and "Traceback" not in err


def test_the_tables_choices_and_types_are_argparse_errors(capsys) -> None:  # type: ignore[no-untyped-def]
    for argv, said in (
        (["rebuild", "--stage", "shots"], "invalid choice: 'shots'"),
        (["query", "x", "--tiers", "speech", "audio"], "invalid choice: 'audio'"),
        (["entities", "list", "--kind", "people"], "invalid choice: 'people'"),
        (["query", "x", "--k", "ten"], "'ten' is not an integer"),
    ):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2 and said in capsys.readouterr().err, argv


def test_query_json_is_only_json(tmp_path, capsys, light_config) -> None:  # type: ignore[no-untyped-def]
    import memindex

    memindex.open(tmp_path / "s", config=light_config).close()
    assert main(["query", "anything", "--store", str(tmp_path / "s"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"hits": []}


def test_stats_json(tmp_path, capsys, light_config) -> None:  # type: ignore[no-untyped-def]
    import memindex

    memindex.open(tmp_path / "s", config=light_config).close()
    assert main(["stats", "--store", str(tmp_path / "s"), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["segments"] == {"shot": 0, "event": 0, "chapter": 0, "video": 0} and stats["videos"] == 0


def test_errors_are_one_line_with_a_code(tmp_path, capsys, light_config) -> None:  # type: ignore[no-untyped-def]
    import memindex

    memindex.open(tmp_path / "s", config=light_config).close()
    assert main(["query", "x", "--store", str(tmp_path / "s"), "--k", "0"]) == 2
    assert "error [bad_query]" in capsys.readouterr().err
    assert main(["show", "nope", "--store", str(tmp_path / "s")]) == 2
    assert "error [not_found]" in capsys.readouterr().err


def test_unknown_command_exits() -> None:
    with pytest.raises(SystemExit):
        main(["frobnicate"])

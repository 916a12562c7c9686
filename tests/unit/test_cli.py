"""The command line: every command is documented, JSON output is clean, errors are clear."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from memindex.cli import build_parser, main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _commands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)  # type: ignore[union-attr]


def test_every_command_is_documented() -> None:
    documented = set(re.findall(r"^## memindex (\w+)", DOCS.read_text(), flags=re.M))
    assert _commands() <= documented, _commands() - documented


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

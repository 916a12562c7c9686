"""Consolidation, curation (rename, merge, split) that sticks, deletion pruning, the API and the CLI."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

import memindex
from memindex.catalog.models import Doc, Word
from memindex.catalog.semantic import Entity, Fact
from memindex.cli import main
from memindex.errors import NotFoundError
from memindex.ingest.semantic import SemanticConfig, consolidate
from tests.semantic.conftest import fill

OFFLINE = SemanticConfig(facts="patterns")


def _index(call):  # type: ignore[no-untyped-def]
    return memindex.MemoryIndex(call.store) if hasattr(memindex, "MemoryIndex") else memindex.open(call.store.root)


def _names(index, kind=None):  # type: ignore[no-untyped-def]
    return {e["name"]: e for e in index.entities(kind)}


def test_offline_consolidation_finds_names_terms_facts(call, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MEMINDEX_LLM_BASE_URL", "http://127.0.0.1:9/v1")  # the library reads no environment
    monkeypatch.setenv("MEMINDEX_LLM_MODEL", "unreachable")
    out = consolidate(call.store, call.video_id, SemanticConfig())
    assert out["facts"] >= 3
    index = _index(call)
    speakers = _names(index, "speaker")
    assert {"Diane", "Sheila"} <= set(speakers)  # "this is Diane", "I'm Sheila" name the voices
    assert "Chicago" in _names(index, "name") and _names(index, "name")["Chicago"]["mentions"] >= 2
    assert "PART TWO: THE FOREST" in _names(index, "term")
    diane = index.entity("Diane")
    assert diane["label"] == f"spk{call.speakers['A']}"
    assert any(f["relation"] == "is named" and f["object"] == "Diane" for f in diane["facts"])
    assert all(m["video_id"] == call.video_id for m in diane["mention_list"])
    hits = index.search("Diane New Jersey", tiers=["semantic"])
    assert hits and hits[0].tier == "semantic"


def test_rebuild_is_idempotent_and_keeps_speaker_turns(call) -> None:  # type: ignore[no-untyped-def]
    consolidate(call.store, call.video_id, OFFLINE)
    with call.store.Session() as s:
        before = (
            s.scalar(select(func.count(Entity.id))),
            s.scalar(select(func.count(Fact.id))),
            s.scalar(select(func.count(Doc.id)).where(Doc.tier == "semantic")),
        )
    consolidate(call.store, call.video_id, OFFLINE)
    with call.store.Session() as s:
        after = (
            s.scalar(select(func.count(Entity.id))),
            s.scalar(select(func.count(Fact.id))),
            s.scalar(select(func.count(Doc.id)).where(Doc.tier == "semantic")),
        )
    assert before == after
    assert _index(call).entity(f"spk{call.speakers['A']}")["mentions"] >= 3


def test_rename_and_merge_stick_across_rebuild(call) -> None:  # type: ignore[no-untyped-def]
    consolidate(call.store, call.video_id, OFFLINE)
    index = _index(call)
    index.rename_entity("Chicago", "Chicago, Illinois")
    b = f"spk{call.speakers['B']}"
    index.merge_entities(f"spk{call.speakers['A']}", [b])
    consolidate(call.store, call.video_id, OFFLINE)
    names = _names(index)
    assert "Chicago, Illinois" in names and "Chicago" not in names
    assert names["Chicago, Illinois"]["user_named"]
    assert index.entity("chicago")["name"] == "Chicago, Illinois"  # the old name is an alias
    assert len(index.entities("speaker")) == 1
    assert index.entity(b)["id"] == call.speakers["A"]  # the tombstone answers with its target
    with call.store.Session() as s:
        assert set(s.scalars(select(Word.speaker)).all()) == {f"spk{call.speakers['A']}"}


def test_split_moves_mentions_and_relabels_words(call) -> None:  # type: ignore[no-untyped-def]
    index = _index(call)
    a = f"spk{call.speakers['A']}"
    out = index.split_entity(a, start=11.0, end=20.0, name="Diane later")
    new_id = out["new"]["id"]
    assert out["new"]["mentions"] == 1 and out["from"]["mentions"] == 2
    with call.store.Session() as s:
        late = set(s.scalars(select(Word.speaker).where(Word.start >= 12.5)).all())
    assert late == {f"spk{new_id}"}


def test_delete_prunes_unless_curated(call) -> None:  # type: ignore[no-untyped-def]
    consolidate(call.store, call.video_id, OFFLINE)
    index = _index(call)
    index.rename_entity(f"spk{call.speakers['A']}", "Diane")
    call.store.delete_video(call.video_id)
    left = index.entities()
    assert [e["name"] for e in left] == ["Diane"] and left[0]["mentions"] == 0
    with call.store.Session() as s:
        assert s.scalar(select(func.count(Fact.id))) == 0
        assert s.scalar(select(func.count(Doc.id)).where(Doc.tier == "semantic")) == 0
    with pytest.raises(NotFoundError):
        index.entity("Chicago")


def test_delete_keeps_what_another_video_supports(tmp_path, light_config) -> None:  # type: ignore[no-untyped-def]
    from memindex.store import Store

    store = Store(tmp_path / "s", config=light_config)
    one, two = fill(store, "ca11000000000001"), fill(store, "ca11000000000002", seeds=(3, 4))
    for c in (one, two):
        consolidate(store, c.video_id, OFFLINE)
    index = memindex.MemoryIndex(store)
    assert index.entity("Chicago")["videos"] == 2
    store.delete_video(one.video_id)
    chicago = index.entity("Chicago")
    assert chicago["videos"] == 1 and {m["video_id"] for m in chicago["mention_list"]} == {two.video_id}


def test_cli_entities(call, capsys) -> None:  # type: ignore[no-untyped-def]
    consolidate(call.store, call.video_id, OFFLINE)
    root = str(call.store.root)
    assert main(["entities", "list", "--store", root, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["entities"]
    assert any(e["name"] == "Chicago" for e in listed)
    assert main(["entities", "rename", "Chicago", "Windy City", "--store", root]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "Windy City"
    assert main(["entities", "merge", "Diane", "Sheila", "--store", root]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "Diane"
    assert main(["entities", "show", "Sheila", "--store", root]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "Diane"
    assert main(["entities", "show", "nobody", "--store", root]) == 2


def test_llm_facts_through_the_protocol(call) -> None:  # type: ignore[no-untyped-def]
    from memindex.llm import LLMConfig
    from tests.fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        server.reply(json.dumps([{"subject": "Sheila", "relation": "lives in", "object": "Texas"}]))
        consolidate(call.store, call.video_id, SemanticConfig(llm=LLMConfig(base_url=server.url, model="test")))
    facts = _index(call).entity("Sheila")["facts"]
    assert any(f["relation"] == "lives in" and f["object"] == "Texas" and f["source"] == "llm" for f in facts)

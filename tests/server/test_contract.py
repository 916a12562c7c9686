"""One contract for the table of operations: the same calls and assertions against the local ``MemoryIndex``
and a ``RemoteIndex`` over HTTP (a live server on 127.0.0.1), on a small store built by hand; plus the
table checked against both classes' methods."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

import memindex
from memindex.catalog.models import Segment
from memindex.catalog.semantic import Entity, EntityMention, normalize
from memindex.errors import ConfigError, NotFoundError, QueryError
from memindex.llm import LLMConfig
from memindex.operations import OPERATIONS, operation
from memindex.remote import RemoteIndex
from memindex.store import Store
from tests.server.conftest import TOKEN
from tests.unit.test_store import _add_video

A, B = "a" * 16, "b" * 16
_WIRE_ONLY = {"health", "collections", "jobs", "add_video", "ingest_status", "frame_jpeg"}  # no local twin
# what MemoryIndex calls some parameters: (start, end) as one range; a video it shows or deletes is a ``ref``
_RENAMED = {"start": "time_range", "end": "time_range", "video.video": "ref", "delete_video.video": "ref"}


def _segments(store: Store, vid: str) -> None:
    """video > 2 chapters > 1 event each > 2 shots each, with summaries."""
    with store.write() as txn:
        s = txn.session
        top = Segment(video_id=vid, level="video", idx=0, start=0, end=100, summary="the whole lecture")
        s.add(top)
        s.flush()
        for c, (lo, hi) in enumerate(((0, 50), (50, 100))):
            ch = Segment(
                video_id=vid,
                level="chapter",
                idx=c,
                start=lo,
                end=hi,
                parent_id=top.id,
                summary=f"chapter {c}",
                transcript=f"words of chapter {c}",
            )
            s.add(ch)
            s.flush()
            ev = Segment(video_id=vid, level="event", idx=c, start=lo, end=hi, parent_id=ch.id)
            s.add(ev)
            s.flush()
            for i, (a, b) in enumerate(((lo, lo + 25), (lo + 25, hi))):
                s.add(Segment(video_id=vid, level="shot", idx=2 * c + i, start=a, end=b, parent_id=ev.id))


def _entities(store: Store) -> None:
    """Ada (mentioned in both videos), and 'A. Lovelace' (one mention) to merge into her."""
    with store.write() as txn:
        s = txn.session
        for name in ("Ada Lovelace", "A. Lovelace"):
            s.add(Entity(kind="name", name=name, key=normalize(name)))
        s.flush()
        ada, alias = (s.query(Entity).filter_by(name=n).one() for n in ("Ada Lovelace", "A. Lovelace"))
        for vid, start in ((A, 0.0), (A, 50.0), (B, 0.0)):
            s.add(
                EntityMention(
                    entity_id=ada.id, video_id=vid, start=start, end=start + 5, source="pattern", text="Ada Lovelace"
                )
            )
        s.add(EntityMention(entity_id=alias.id, video_id=B, start=10, end=12, source="pattern", text="Lovelace"))


def build_store(root: Path, light_config) -> Path:  # type: ignore[no-untyped-def]
    store = Store(root, config=light_config)
    _add_video(
        store,
        A,
        [
            (0, 5, "welcome to the lecture on graphs"),
            (50, 55, "the answer is 4217 exactly"),
            (90, 95, "thank you all for coming"),
        ],
    )
    _add_video(store, B, [(0, 5, "red apples and green pears"), (10, 14, "Ada Lovelace wrote the notes")])
    _segments(store, A)
    _entities(store)
    store.close()
    return root


@pytest.fixture(params=["local", "remote"])
def index(request, tmp_path, light_config) -> Iterator[object]:  # type: ignore[no-untyped-def]
    root = build_store(tmp_path / "store", light_config)
    if request.param == "local":
        with memindex.open(root) as local:
            yield local
        return
    from memindex.server.http import create_app
    from memindex.server.service import Service, ServiceConfig
    from tests.server.live import serving

    svc = Service(ServiceConfig(store=root, agent="default"))
    try:
        with serving(create_app(svc, token=TOKEN)) as url, memindex.open(url, token=TOKEN) as remote:
            assert isinstance(remote, RemoteIndex)
            yield remote
    finally:
        svc.close()


def test_search_and_open_ended_time(index) -> None:  # type: ignore[no-untyped-def]
    hits = index.search("4217", k=3, tiers=["speech"])
    assert (hits[0].video_id, hits[0].text, hits[0].start, hits[0].end) == (A, "the answer is 4217 exactly", 50, 55)
    assert hits[0].uri == f"/videos/{A}.mp4" and 0 <= hits[0].confidence <= 1
    later = index.search("lecture answer coming", k=10, tiers=["speech"], videos=[A], time_range=(40, None))
    assert {h.start for h in later} == {50, 90}
    assert index.search("red apples", k=10, tiers=["speech"], time_range=(20, 30)) == []
    with pytest.raises(QueryError):
        index.search("x", tiers=["nope"])


def test_videos_transcript_and_stats(index) -> None:  # type: ignore[no-untyped-def]
    assert sorted(v["id"] for v in index.videos()) == [A, B] and index.videos()[0].name.endswith(".mp4")
    assert index.video("aaaa")["id"] == A and index.video(A)["status"] == "ready"
    words = index.transcript(A, 40, None)
    assert [(u.start, u.text) for u in words] == [(50, "the answer is 4217 exactly"), (90, "thank you all for coming")]
    assert [u.start for u in index.transcript(A, None, 10)] == [0]
    assert index.screen_text(A) == [] and index.frames(A) == []
    stats = index.stats()
    assert stats["videos"] == 2 and stats["segments"] == {"shot": 4, "event": 2, "chapter": 2, "video": 1}
    with pytest.raises(NotFoundError):
        index.video("ffffffffffffffff")
    with pytest.raises(QueryError):
        index.transcript(A, 10, 5)


def test_browse_and_segments(index) -> None:  # type: ignore[no-untyped-def]
    chapters = index.browse(A, "chapter")
    assert [(c.start, c.end, c.summary) for c in chapters] == [(0, 50, "chapter 0"), (50, 100, "chapter 1")]
    assert [len(c["children"][0]["children"]) for c in chapters] == [2, 2]  # whole tree: events, then shots
    assert [c.start for c in index.browse(A, "chapter", time_range=(60, None))] == [50]
    seg = index.get_segment(chapters[1]["id"])
    assert seg["level"] == "chapter" and seg["uri"] == f"/videos/{A}.mp4" and seg["transcript"] == "words of chapter 1"
    with pytest.raises(NotFoundError):
        index.get_segment(999_999)
    with pytest.raises(QueryError):
        index.browse(A, "scene")


def test_ask_passes_every_option(index) -> None:  # type: ignore[no-untyped-def]
    answer = index.ask(
        "what is the answer, 4217?", max_steps=2, max_seconds=60, max_tokens=1000, min_confidence=0.05, videos=[A]
    ).to_dict()
    assert "4217" in answer["answer"] and not answer["abstained"]
    assert answer["citations"] and all(c["video_id"] == A for c in answer["citations"])
    assert answer["trace"] and answer["cost"]["budget"] == {"max_steps": 2, "max_seconds": 60, "max_tokens": 1000}
    assert answer["support"]["threshold"] == 0.05
    steps = list(index.ask_stream("what is the answer, 4217?", max_steps=1))
    assert steps[-1]["type"] == "answer" and steps[-1]["cost"]["budget"]["max_steps"] == 1
    with pytest.raises(QueryError):
        index.ask("  ")
    with pytest.raises(QueryError):
        index.ask("x", min_confidence=2)


def test_unknown_options_are_config_errors(index) -> None:  # type: ignore[no-untyped-def]
    """A misspelt option is refused by name, with the valid ones listed, before anything runs (not a bare
    TypeError, not silently ignored); the options the server decides are refused over a server."""
    with pytest.raises(ConfigError, match=r"unknown ask.* option\(s\) \['max_step'\]; valid: \[.*'max_steps'"):
        index.ask("what is the answer?", max_step=2)
    with pytest.raises(ConfigError, match=r"\['top_k'\].*'min_confidence'"):
        index.ask_stream("what is the answer?", top_k=3)
    with pytest.raises(ConfigError, match=r"\['confg'\]; valid: \[.*'progress'"):
        index.ingest([], confg={"ocr": {"enabled": False}})
    with pytest.raises(ConfigError, match=r"\['video'\]"):
        index.rebuild("events", video=[A])
    with pytest.raises(ConfigError, match=r"\['stages'\]"):
        index.backfill(stages="visual")
    if isinstance(index, RemoteIndex):
        with pytest.raises(ConfigError, match="the server chooses its agent and LLM"):
            index.ask("what is the answer?", llm=LLMConfig(base_url="http://127.0.0.1:9/v1", model="m"))
        with pytest.raises(ConfigError, match="set when it starts"):
            index.ingest([], config={"ocr": {"enabled": False}})
    else:  # the library reads no environment: "env" is refused, saying what to pass instead
        with pytest.raises(ConfigError, match=r"pass llm=LLMConfig\(base_url=\.\.\., model=\.\.\."):
            index.ask("what is the answer?", llm="env")
    assert index.stats()["videos"] == 2  # nothing ran


def test_entities_and_their_edits(index) -> None:  # type: ignore[no-untyped-def]
    listed = index.entities()
    assert [(e["name"], e["mentions"], e["videos"]) for e in listed] == [("Ada Lovelace", 3, 2), ("A. Lovelace", 1, 1)]
    assert [e["name"] for e in index.entities("name", "lovelace")] == ["Ada Lovelace", "A. Lovelace"]
    ada = index.entity("ada lovelace")
    assert len(ada["mention_list"]) == 3 and {m["video_id"] for m in ada["mention_list"]} == {A, B}
    renamed = index.rename_entity(ada["id"], "Augusta Ada King")
    assert renamed["name"] == "Augusta Ada King" and index.entity("Ada Lovelace")["id"] == ada["id"]  # an alias
    merged = index.merge_entities(ada["id"], ["A. Lovelace"])
    assert merged["mentions"] == 4 and [e["name"] for e in index.entities()] == ["Augusta Ada King"]
    split = index.split_entity(ada["id"], video=B, name="Ada (video B)")
    assert split["new"]["name"] == "Ada (video B)" and {m["video_id"] for m in split["new"]["mention_list"]} == {B}
    assert split["from"]["mentions"] == 2
    with pytest.raises(NotFoundError):
        index.entity("Nobody")
    with pytest.raises(QueryError):
        index.split_entity(ada["id"])  # no mentions chosen


def test_delete_video(index) -> None:  # type: ignore[no-untyped-def]
    deleted = index.delete_video("bbbb")
    assert deleted == {"id": B, "uri": f"/videos/{B}.mp4", "name": f"{B}.mp4"}
    assert [v["id"] for v in index.videos()] == [A]
    assert all(h.video_id == A for h in index.search("red apples", k=10, tiers=["speech"]))
    with pytest.raises(NotFoundError):
        index.delete_video(B)


def test_remote_answers_as_local(tmp_path, light_config) -> None:  # type: ignore[no-untyped-def]
    """Side by side on the same store: the remote results equal the local ones, field for field."""
    from memindex.server.http import create_app
    from memindex.server.service import Service, ServiceConfig
    from tests.server.live import serving

    root = build_store(tmp_path / "store", light_config)
    svc = Service(ServiceConfig(store=root, agent="default"))
    try:
        with serving(create_app(svc, mcp=False)) as url, memindex.open(url) as remote, memindex.open(root) as local:
            for name, args in (
                ("videos", ()),
                ("stats", ()),
                ("entities", ()),
                ("entity", ("Ada Lovelace",)),
                ("transcript", (A, 40, None)),
                ("video", (A,)),
            ):
                assert getattr(remote, name)(*args) == getattr(local, name)(*args), name
            assert [h.to_dict() for h in remote.search("answer graphs", k=5)] == [
                h.to_dict() for h in local.search("answer graphs", k=5)
            ]
            assert _without(remote.browse(A, "video"), "n_children") == local.browse(A, "video").to_list()
            question, options = "what is the answer, 4217?", {"max_steps": 2, "videos": [A]}
            mine, theirs = local.ask(question, **options).to_dict(), remote.ask(question, **options).to_dict()
            assert _timeless(theirs) == _timeless(mine)
    finally:
        svc.close()


def _without(nodes: list, key: str) -> list:
    return [{k: (_without(v, key) if k == "children" else v) for k, v in n.items() if k != key} for n in nodes]


def _timeless(answer: dict) -> dict:
    """An answer without what depends on the clock (seconds spent)."""
    out = {k: v for k, v in answer.items() if k not in ("cost", "trace")}
    out["trace"] = [{k: v for k, v in s.items() if k != "seconds"} for s in answer["trace"]]
    out["cost"] = {k: v for k, v in answer["cost"].items() if k != "seconds"}
    return out


def test_ask_takes_the_tables_options_by_name() -> None:
    """Both ``ask`` methods (and ``ask_stream``) take exactly the row's parameters as typed keywords, plus
    what only one side has (the local agent's ``budget``/``llm``/``agent``; the remote ``budget``)."""
    row = {p.name for p in operation("ask").params}
    wire = {p.name for p in operation("ask").params if p.wire}
    for cls, extra in ((memindex.MemoryIndex, {"budget", "llm", "agent"}), (RemoteIndex, {"budget"})):
        for name in ("ask", "ask_stream"):
            params = inspect.signature(getattr(cls, name)).parameters
            assert not any(p.kind is p.VAR_KEYWORD for p in params.values()), (cls, name)
            expected = row - (wire if cls is memindex.MemoryIndex else set()) | extra | {"self"}
            assert set(params) == expected, (cls.__name__, name, set(params) ^ expected)


@pytest.mark.parametrize("cls", [RemoteIndex, memindex.MemoryIndex])
def test_every_operation_has_a_method_taking_its_parameters(cls) -> None:
    """RemoteIndex has a method per operation; both classes take each parameter of the table (by name, or
    ``start``/``end`` as ``time_range``); the wire-only parameters only shape what a server sends."""
    for op in OPERATIONS:
        if cls is memindex.MemoryIndex and op.name in _WIRE_ONLY:
            continue
        method = getattr(cls, op.name, None)
        assert callable(method), f"{cls.__name__} has no method {op.name}"
        accepted = inspect.signature(method).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
        for p in op.params:
            if p.wire and cls is memindex.MemoryIndex:
                continue
            name = p.name if p.name in accepted else _RENAMED.get(f"{op.name}.{p.name}", _RENAMED.get(p.name))
            assert name in accepted or takes_any, f"{cls.__name__}.{op.name} does not take {p.name!r}"


def test_open_ended_time_is_none_in_the_table() -> None:
    for op in OPERATIONS:
        for p in op.params:
            if p.name in ("start", "end"):
                assert p.default is None and p.maximum is None, (op.name, p.name)
    assert operation("search").input_schema()["properties"]["end"]["type"] == ["number", "null"]


def test_function_schemas_for_an_agent() -> None:
    """The table also gives an in-process agent its function tools (the same names, bounds and enums)."""
    fn = operation("search").function_schema({"max_k": 20})["function"]
    assert fn["name"] == "search" and fn["description"] == operation("search").description
    assert "collection" not in fn["parameters"]["properties"] and fn["parameters"]["required"] == ["query"]
    assert fn["parameters"]["properties"]["k"]["maximum"] == 20 and fn["parameters"]["properties"]["k"]["default"] == 10

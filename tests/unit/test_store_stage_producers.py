"""The store stages (captions, levels, semantic) as record producers: their loaders read everything the
producers need, so the producers run with no store at all (closed and deleted here), from inputs that went
through pickle, and give the same records every time; their commits re-check the store at commit time."""

from __future__ import annotations

import dataclasses
import pickle
import shutil
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

import memindex
from memindex.catalog.models import StageRun
from memindex.ingest.captioners import (
    CaptionerConfig,
    commit_captions,
    load_captions,
    make_captioner,
    produce_captions,
)
from memindex.ingest.config import AsrConfig, IngestConfig, OcrConfig
from memindex.ingest.describe import SummaryConfig
from memindex.ingest.faces import FaceEncoder
from memindex.ingest.rebuild import commit_levels, load_levels, produce_levels
from memindex.ingest.semantic import (
    SemanticConfig,
    commit_semantic,
    consolidate,
    load_semantic,
    produce_semantic,
)
from memindex.store import Store
from tests.fake_openai import FakeOpenAI, completion
from tests.semantic.conftest import fill
from tests.snapshot import snapshot

OFFLINE = IngestConfig(
    asr=AsrConfig(enabled=False), ocr=OcrConfig(enabled=False), summary=SummaryConfig(summariser="extractive")
)
FACTS = SemanticConfig(facts="patterns")


def _plain(value: Any) -> Any:
    """Records as comparable values: dataclasses field by field, arrays by dtype, shape and bytes; the
    producers' own timings left out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__,) + tuple(
            (f.name, _plain(getattr(value, f.name))) for f in dataclasses.fields(value) if f.name != "seconds"
        )
    if isinstance(value, np.ndarray):
        return (str(value.dtype), value.shape, value.tobytes())
    if isinstance(value, dict):
        return tuple(sorted((k, _plain(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    return value


def _caption(body: dict) -> dict:
    """A caption that depends on the image and the context sent, so a missing keyframe would show."""
    parts = body["messages"][0]["content"]
    image = next(p for p in parts if p["type"] == "image_url")["image_url"]["url"]
    return completion({"role": "assistant", "content": f"A test card {hash(image) & 0xFFFF:x}."})


def _face_encoder() -> FaceEncoder | None:
    try:
        return FaceEncoder()
    except memindex.MemIndexError:
        return None  # the semantic producer then records faces as skipped, the same way both times


def test_producers_need_no_store_and_repeat_exactly(tmp_path, cut_video, light_config) -> None:  # type: ignore[no-untyped-def]
    path, truth = cut_video
    root = tmp_path / "store"
    with FakeOpenAI(default=_caption) as server:
        cfg = replace(OFFLINE, captioner=CaptionerConfig(name="openai", base_url=server.url, model="vlm"))
        index = memindex.open(root, config=light_config)
        vid = index.ingest([path], config=cfg).ingested[0]["video_id"]
        store = index.store
        call = fill(store).video_id  # a second video with names, facts and speaker entities
        captioner = make_captioner(replace(cfg.captioner, model="another-vlm"))  # nothing cached for it yet
        embedder, faces = store.text_embedder, _face_encoder()
        loaded = {
            "captions": load_captions(store, vid, captioner.name),
            "levels": load_levels(store, vid, "openai:vlm"),
            "semantic": load_semantic(store, vid, FACTS),
            "semantic-call": load_semantic(store, call, FACTS),
        }
        assert len(loaded["captions"].todo) == len(truth) + 1 and loaded["captions"].images.data
        assert loaded["levels"].rows.images.data  # no frame vectors: the grouping needs colour histograms

        def produce(inputs: dict[str, Any]) -> dict[str, Any]:
            return {
                "captions": produce_captions(inputs["captions"], captioner),
                "levels": produce_levels(inputs["levels"], cfg, embedder),
                "semantic": produce_semantic(inputs["semantic"], FACTS, faces),
                "semantic-call": produce_semantic(inputs["semantic-call"], FACTS, faces),
            }

        beside = produce(loaded)
        shipped = pickle.dumps(loaded)
        index.close()
        store.close()
        shutil.rmtree(root)  # the catalog, the tiers and the keyframe JPEGs are gone
        again = produce(pickle.loads(shipped))
        twice = produce(pickle.loads(shipped))
    assert not root.exists()
    assert _plain(again) == _plain(beside) == _plain(twice)
    pickle.loads(pickle.dumps(beside))  # the records travel too
    caps, levels, call_facts = beside["captions"], beside["levels"], beside["semantic-call"]
    assert caps.status == "done" and len(caps.captions) == len(truth) + 1
    assert all(text.startswith("A test card") for _, text in caps.captions)
    assert levels.counts["shot"] == len(truth) + 1 and levels.levels.video.end > 0
    assert any(f.relation == "is named" and f.object == "Diane" for f in call_facts.facts)
    assert {e.name for e in call_facts.evidence} >= {"Chicago", "PART TWO: THE FOREST"}


def test_commit_after_the_video_is_deleted_writes_nothing(tmp_path, light_config) -> None:  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "store", config=light_config)
    vid = fill(store).video_id
    captioner = make_captioner(CaptionerConfig())
    records = (
        (commit_captions, produce_captions(load_captions(store, vid, captioner.name), captioner)),
        (commit_levels, produce_levels(load_levels(store, vid, "none"), OFFLINE, store.text_embedder)),
        (commit_semantic, produce_semantic(load_semantic(store, vid, FACTS), FACTS)),
    )
    store.delete_video(vid)
    fill(store, vid)  # the same id ingested again: other shots, so the records are stale
    for commit, rec in records:
        assert commit(store, rec) == {}
    with store.Session() as s:
        assert s.scalars(select(StageRun.stage).where(StageRun.video_id == vid)).all() == []


def test_semantic_records_join_entities_committed_after_they_were_made(tmp_path, light_config) -> None:  # type: ignore[no-untyped-def]
    """Entities are matched inside the commit: records produced before another video's entities existed
    end exactly as if the videos had been consolidated one after the other."""
    one, two = "ca11000000000001", "ca11000000000002"
    in_order = Store(tmp_path / "a", config=light_config)
    fill(in_order, one), fill(in_order, two, seeds=(3, 4))
    consolidate(in_order, one, FACTS)
    consolidate(in_order, two, FACTS)
    interleaved = Store(tmp_path / "b", config=light_config)
    fill(interleaved, one), fill(interleaved, two, seeds=(3, 4))
    early = produce_semantic(load_semantic(interleaved, two, FACTS), FACTS)
    consolidate(interleaved, one, FACTS)  # creates Chicago, Diane... after ``early`` was made
    out = commit_semantic(interleaved, early)
    assert out["mentions"] == len(early.evidence) > 0
    assert snapshot(interleaved) == snapshot(in_order)


@pytest.mark.parametrize("stage", ["events", "captions", "semantic"])
def test_rebuild_goes_through_the_same_steps(tmp_path, light_config, monkeypatch, stage) -> None:  # type: ignore[no-untyped-def]
    """``rebuild`` commits through the stage's commit function (here made to fail: nothing else writes)."""
    import memindex.ingest.captioners as captioners
    import memindex.ingest.rebuild as rebuild_mod
    import memindex.ingest.semantic as semantic

    store = Store(tmp_path / "store", config=light_config)
    vid = fill(store).video_id
    seen: list[str] = []

    def spy(name: str, real: Any) -> Any:
        def call(*a: Any, **k: Any) -> Any:
            seen.append(name)
            return real(*a, **k)

        return call

    monkeypatch.setattr(rebuild_mod, "commit_levels", spy("levels", rebuild_mod.commit_levels))
    monkeypatch.setattr(rebuild_mod, "commit_captions", spy("captions", captioners.commit_captions))
    monkeypatch.setattr(semantic, "commit_semantic", spy("semantic", semantic.commit_semantic))
    builder = rebuild_mod.HierarchyBuilder(store, OFFLINE)
    out = rebuild_mod.rebuild(store, stage, [vid], builder=builder, semantic=FACTS)
    want = {"events": ["levels"], "captions": ["captions", "levels"], "semantic": ["semantic"]}[stage]
    assert seen == want and out["videos"][vid]

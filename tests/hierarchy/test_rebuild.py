"""Building and re-building the hierarchy from stored rows: texts, docs per level, atomic replacement,
captions cached per keyframe, LLM summaries bottom-up, and the CLI/API surface."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from sqlalchemy import func, select

import memindex
from memindex.catalog.models import Doc, FrameCaption, Segment
from memindex.cli import main
from memindex.errors import ConfigError
from memindex.ingest.captioners import CaptionerConfig
from memindex.ingest.config import AsrConfig, IngestConfig, OcrConfig
from memindex.ingest.describe import SummaryConfig, extractive_summary
from memindex.ingest.rebuild import EPISODIC_TIERS, HierarchyBuilder, rebuild
from memindex.llm import LLMConfig
from tests.fake_openai import FakeOpenAI
from tests.hierarchy.conftest import CLIPS, TITLE, Narrated

OFFLINE = IngestConfig(
    asr=AsrConfig(enabled=False), ocr=OcrConfig(enabled=False), summary=SummaryConfig(summariser="extractive")
)


def _segments(store, vid: str) -> dict[str, list[Segment]]:
    with store.Session() as s:
        rows = s.scalars(select(Segment).where(Segment.video_id == vid).order_by(Segment.start)).all()
    out: dict[str, list[Segment]] = {}
    for seg in rows:
        out.setdefault(seg.level, []).append(seg)
    return out


def _check_tree(store, vid: str) -> dict[str, list[Segment]]:
    segs = _segments(store, vid)
    by_id = {s.id: s for lvl in segs.values() for s in lvl}
    for child, parent in (("shot", "event"), ("event", "chapter"), ("chapter", "video")):
        assert segs[child], child
        for seg in segs[child]:
            p = by_id[seg.parent_id]
            assert p.level == parent and p.start <= seg.start and seg.end <= p.end
        for a, b in zip(segs[child], segs[child][1:], strict=False):
            assert a.end == pytest.approx(b.start)
    with store.Session() as s:
        for lvl, rows in segs.items():
            docs = s.scalars(select(Doc).where(Doc.video_id == vid, Doc.tier == f"episodic.{lvl}")).all()
            assert sorted(d.ref_id for d in docs) == sorted(r.id for r in rows)
            assert all(d.text and d.vector is not None for d in docs)
    for lvl in ("shot", "event", "chapter", "video"):
        tier = store.tier(f"episodic.{lvl}")
        with store.Session() as s:
            want = s.scalars(select(Doc.id).where(Doc.tier == f"episodic.{lvl}")).all()
        assert sorted(tier.ids().tolist()) == sorted(want)
    return segs


def test_build_from_rows_texts_and_speech_clips(narrated: Narrated) -> None:
    counts = HierarchyBuilder(narrated.store, OFFLINE).build(narrated.video_id)
    assert counts["shot"] == len(narrated.shots) and counts["video"] == 1
    segs = _check_tree(narrated.store, narrated.video_id)
    for ev in segs["event"][1:]:
        assert not any(a < ev.start < b for a, b in CLIPS), ev.start
    sonnet = next(e for e in segs["event"] if e.start <= 100 <= e.end)
    assert "sonnet" in (sonnet.transcript or "") and sonnet.summary.startswith("Key phrases: sonnet")
    title = next(sh for sh in segs["shot"] if sh.start <= TITLE[0] < sh.end)
    assert title.ocr == TITLE[2]
    video = segs["video"][0]
    assert "rabbit" in video.transcript and "squirrel" in video.transcript and video.summary


def test_rebuild_replaces_atomically(narrated: Narrated, monkeypatch: pytest.MonkeyPatch) -> None:
    store, vid = narrated.store, narrated.video_id
    builder = HierarchyBuilder(store, OFFLINE)
    builder.build(vid)
    before = {lvl: [s.id for s in rows] for lvl, rows in _segments(store, vid).items()}
    import memindex.ingest.rebuild as mod

    def boom(*_a: object) -> None:
        raise RuntimeError("crash mid-write")

    monkeypatch.setattr(mod, "record_stage", boom)
    with pytest.raises(RuntimeError):
        builder.build(vid)
    monkeypatch.undo()
    assert {lvl: [s.id for s in rows] for lvl, rows in _segments(store, vid).items()} == before
    _check_tree(store, vid)
    builder = HierarchyBuilder(store, replace(OFFLINE, hierarchy=replace(OFFLINE.hierarchy, event_max=20.0)))
    out = rebuild(store, "events", [vid], builder=builder)
    segs = _check_tree(store, vid)
    assert out["videos"][vid]["segments"]["event"] == len(segs["event"]) > len(before["event"])
    with store.Session() as s:
        n_docs = s.scalar(select(func.count(Doc.id)).where(Doc.tier.in_(EPISODIC_TIERS)))
    assert n_docs == sum(len(v) for v in segs.values())  # old docs gone, no duplicates
    with pytest.raises(ConfigError, match="events"):
        rebuild(store, "nope", [vid])


def test_llm_summaries_bottom_up_and_fallback(narrated: Narrated) -> None:
    with FakeOpenAI(default=lambda body: _summary_reply(body)) as server:
        summary = SummaryConfig(llm=LLMConfig(base_url=server.url, model="sum-test"))
        HierarchyBuilder(narrated.store, replace(OFFLINE, summary=summary)).build(narrated.video_id)
        segs = _segments(narrated.store, narrated.video_id)
        prompts = [r["body"]["messages"][0]["content"] for r in server.requests]
        assert len(prompts) == len(segs["event"]) + len(segs["chapter"]) + 1
        assert all(e.summary.startswith("SUMMARY of event") for e in segs["event"])
        # chapters are summarised from their events' summaries, the video from its chapters'
        assert "SUMMARY of event" in next(p for p in prompts if "one chapter" in p)
        assert "SUMMARY of chapter" in prompts[-1] and segs["video"][0].summary.startswith("SUMMARY of video")
        server.default = None  # the endpoint breaks: one failure, then extractive for the rest
        HierarchyBuilder(narrated.store, replace(OFFLINE, summary=summary)).build(narrated.video_id)
        n = len(server.requests)
        segs = _segments(narrated.store, narrated.video_id)
    assert n == len(prompts) + 3  # three attempts for the first event, none after
    assert all(e.summary is None or e.summary.startswith("Key phrases") for e in segs["event"])


def _summary_reply(body: dict) -> dict:
    from tests.fake_openai import completion

    text = body["messages"][0]["content"]
    level = text.split("one ", 1)[1].split(" ", 1)[0]
    return completion({"role": "assistant", "content": f"SUMMARY of {level}"})


def test_captions_cached_per_keyframe_and_rebuilt(tmp_path, cut_video, light_config, monkeypatch) -> None:
    path, truth = cut_video
    index = memindex.open(tmp_path / "store", config=light_config)
    with FakeOpenAI(default=lambda body: _caption_reply()) as server:
        cfg = replace(OFFLINE, captioner=CaptionerConfig(name="openai", base_url=server.url, model="vlm"))
        report = index.ingest([path], config=cfg)
        vid = report.ingested[0]["video_id"]
        first = len(server.requests)
        assert first == len(truth) + 1  # one caption per shot keyframe
        index.rebuild("captions", [vid], config=cfg)
        assert len(server.requests) == first  # cached: nothing asked again
    segs = _check_tree(index.store, vid)
    assert all(s.caption == "A coloured test card." for s in segs["shot"])
    assert (
        "Seen: A coloured test card."
        in index.store.Session().scalars(select(Doc.text).where(Doc.tier == "episodic.event")).first()
    )
    with FakeOpenAI() as down:  # another model, endpoint down: recorded as failed, hierarchy still rebuilt
        cfg2 = replace(cfg, captioner=CaptionerConfig(name="openai", base_url=down.url, model="other", max_retries=0))
        out = index.rebuild("captions", [vid], config=cfg2)
    assert "error" in out["videos"][vid]["captions"]
    assert index.video(vid)["stages"]["captions"]["status"] == "failed"
    with index.store.Session() as s:
        assert s.scalar(select(func.count(FrameCaption.id))) == len(truth) + 1


def _caption_reply() -> dict:
    from tests.fake_openai import completion

    return completion({"role": "assistant", "content": "A coloured test card."})


def test_offline_ingest_cli_show_and_stats(tmp_path, cut_video, light_config, capsys) -> None:
    path, truth = cut_video
    store = tmp_path / "store"
    index = memindex.open(store, config=light_config)
    vid = index.ingest([path], config=replace(OFFLINE, summary=SummaryConfig()))  # auto: no LLM → extractive
    vid = vid.ingested[0]["video_id"]
    index.close()
    assert main(["stats", "--store", str(store), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert set(stats["segments"]) == {"shot", "event", "chapter", "video"}
    assert stats["segments"]["shot"] == len(truth) + 1 and all(stats["segments"].values())
    assert main(["rebuild", "--store", str(store), "--stage", "events", "--video", vid[:8]]) == 0
    assert json.loads(capsys.readouterr().out)["videos"][vid]["segments"]["video"] == 1
    assert main(["show", vid, "--store", str(store), "--level", "chapter"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("chapter 0") and "  event 0" in out and "    shot 0" in out
    tree = memindex.open(store).browse(vid, "event", time_range=(0.0, 3.0))
    assert tree and all(n["level"] == "event" and n["children"] for n in tree)


def test_extractive_summary_picks_key_sentences() -> None:
    text = (
        "The rabbit wakes up. Birds sing in the tree. The rabbit eats an apple. "
        "The rabbit chases the butterfly. Clouds pass."
    )
    out = extractive_summary(text, 2, 3, {"rabbit": 1.0, "clouds": 2.0})
    assert out.startswith("Key phrases: rabbit, clouds")
    assert out.endswith("The rabbit eats an apple. The rabbit chases the butterfly.")  # in time order
    assert extractive_summary("", 2, 3) == ""

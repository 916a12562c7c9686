"""Answers that know when they don't know, counted once, in the speakers' own words, cited.

A small store like the voicemail prompt of the shared media: speech, a credits line on screen, and the
episodic segments ingest writes over them (a whole-video and a chapter description led by "Key phrases:"),
so the segments also match every word that is said."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import memindex
from memindex.catalog.models import Segment
from memindex.query.abstain import PLATT, THRESHOLD, calibrate, covered, hit_confidence, same_word, similarity, support
from memindex.query.compose import from_model
from memindex.query.hygiene import INTERNAL, scrub, sections, spoken_text
from memindex.query.resolve import count_occurrences
from memindex.query.tools import Evidence
from memindex.store import DocRow, Store
from tests.fake_openai import FakeOpenAI
from tests.query.conftest import build

VID = "b" * 16
SPEECH = [
    (10.0, 14.0, "to look into your messages press one now"),
    (15.0, 21.0, "you may quit voicemail at any time by pressing the pound key"),
    (30.0, 34.0, "thank you for calling the asterisk demonstration"),
]
SCREEN = [(50.0, 53.0, "Python"), (53.0, 56.0, "Blender Foundation")]
SAID = " ".join(t for _, _, t in SPEECH)
SEGMENTS = [  # (level, start, end, description as ingest writes it)
    (
        "video",
        0.0,
        60.0,
        f"Key phrases: voicemail, pound key, messages. You may quit voicemail at any time by "
        f"pressing the pound key.\nSaid: {SAID}\nOn screen: Python | Blender Foundation",
    ),
    (
        "chapter",
        8.0,
        22.0,
        f"Key phrases: voicemail, pound key. You may quit voicemail at any time.\nSaid: {SPEECH[0][2]} {SPEECH[1][2]}",
    ),
    ("chapter", 40.0, 60.0, "chapter 40.0-60.0 s: no speech, screen text or caption"),
]
QUESTIONS = [
    "When can you quit voicemail?",
    "voicemail pound key messages",
    "What is said right after 'press one now'?",
    "What is said right before 'thank you for calling'?",
    "How many times is voicemail mentioned?",
    "When is Python shown on screen?",
    "When is the first time the pound key is mentioned?",
    "How much time passes between 'press one now' and 'thank you for calling'?",
    "What is said between 0:09 and 0:22?",
    "When does someone talk about a password?",
]


def _add_segments(store: Store, vid: str = VID) -> None:
    with store.write() as txn:
        for level in ("video", "chapter"):
            rows = []
            for i, (lvl, start, end, text) in enumerate(s for s in SEGMENTS if s[0] == level):
                seg = Segment(video_id=vid, level=lvl, idx=i, start=start, end=end, summary=text.split("\n")[0])
                txn.session.add(seg)
                txn.session.flush()
                rows.append(DocRow(vid, seg.id, start, end, text))
            txn.add_docs(f"episodic.{level}", rows, store.text_embedder.embed([r.text for r in rows]))


@pytest.fixture()
def voicemail(tmp_path: Path, light_config):  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "vm", config=light_config)
    build(store, vid=VID, speech=SPEECH, screen=SCREEN)
    _add_segments(store)
    with memindex.MemoryIndex(store) as idx:
        yield idx


def _cited(ans: dict) -> list[str]:
    return re.findall(r"\[[^\]]*\d:\d\d-\d+:\d\d\]", ans["answer"])


# -- abstention ----------------------------------------------------------------------------------------
def test_unanswerable_question_abstains_with_candidates_marked(voicemail) -> None:
    ans = voicemail.ask("When does someone talk about a password?").to_dict()
    assert ans["abstained"] and ans["citations"] == [] and ans["confidence"] < ans["support"]["threshold"]
    assert ans["answer"].startswith("Not found in this store")
    assert "Nearest candidates (not answers):" in ans["answer"] and ans["evidence"]
    assert "password" in ans["answer"]


def test_answerable_question_is_answered(voicemail) -> None:
    ans = voicemail.ask("When can you quit voicemail?").to_dict()
    assert not ans["abstained"] and ans["confidence"] >= ans["support"]["threshold"]
    assert [(c["start"], c["end"], c["video_id"]) for c in ans["citations"]] == [(15.0, 21.0, VID)]
    assert ans["answer"].startswith('"you may quit voicemail')


def test_unanswerable_count_after_and_span_abstain(voicemail) -> None:
    for q in (
        "How many times is the word 'password' said?",
        "What is said right after 'the quick brown fox jumps'?",
        "How much time passes between 'the moon landing' and 'press one now'?",
    ):
        ans = voicemail.ask(q).to_dict()
        assert ans["abstained"] and ans["citations"] == [], (q, ans["answer"])


def test_min_confidence_is_the_threshold(voicemail) -> None:
    low = voicemail.ask("When does someone talk about a password?", min_confidence=0.0).to_dict()
    assert not low["abstained"] and low["citations"]
    high = voicemail.ask("When can you quit voicemail?", min_confidence=1.0).to_dict()
    assert high["abstained"]
    from memindex.errors import QueryError

    with pytest.raises(QueryError, match="min_confidence"):
        voicemail.ask("x", min_confidence=2)


def test_support_needs_the_terms_at_the_moment() -> None:
    moment = Evidence(
        VID, "/v.mp4", 15, 21, "utterance", "speech", "speech", 0.8, SPEECH[1][2], signals={"cosine": 0.7}
    )
    moment.confidence = 0.9  # as the search sets it
    got = support([(moment, ("voicemail", "pound"))], (), [moment])
    miss = support([(moment, ("password",))], (), [moment])
    assert got.lexical == 1.0 and miss.lexical == 0.0 and got.confidence > THRESHOLD > miss.confidence
    half = support([(moment, ("voicemail", "password"))], (), [moment])
    assert miss.raw < half.raw < got.raw
    assert support([], (), [moment]).confidence == 0.0
    assert calibrate(0.0) < calibrate(0.5) < calibrate(1.0) and PLATT[0] > 0


def test_hit_confidence_is_used_when_present() -> None:
    e = Evidence(VID, "/v.mp4", 15, 21, "utterance", "speech", "speech", 0.8, SPEECH[1][2], signals={"cosine": 0.9})
    e.confidence = 0.05  # as memindex.search sets it
    low = support([(e, ("voicemail",))], (), [e])
    e.confidence = 0.95
    high = support([(e, ("voicemail",))], (), [e])
    assert low.retrieval == 0.05 and high.retrieval == 0.95 and low.dense == high.dense == 1.0
    assert hit_confidence(e) == 0.95 and similarity(e) == 1.0
    read = Evidence(VID, "/v.mp4", 15, 21, "utterance", "speech", "speech", 0.0, SPEECH[1][2], source="transcript")
    assert hit_confidence(read) is None and similarity(read) is None  # no search scored it


def test_word_matching_is_strict_about_stems() -> None:
    assert same_word("credited", "credit") and same_word("Mr.", "mister") and same_word("MUSICANDSOUND", "sound")
    assert same_word("Café", "cafe")
    assert not same_word("channel", "change") and not same_word("director", "direction")
    assert covered(("quit", "voicemail"), "You may quit voicemail") == 1.0


# -- counting ------------------------------------------------------------------------------------------
def test_one_mention_counts_once_when_segments_also_match(voicemail) -> None:
    ans = voicemail.ask("How many times is voicemail mentioned?").to_dict()
    assert ans["answer"].startswith("1 time:"), ans["answer"]
    assert len(ans["citations"]) == 1 and not ans["abstained"]
    c = ans["citations"][0]
    assert c["tier"] == "speech" and 15.0 <= c["start"] < c["end"] <= 21.0 and c["level"] == "words"


def test_count_from_search_rows_only_without_transcript() -> None:
    def ev(start, end, tier, level, text):  # type: ignore[no-untyped-def]
        return Evidence(VID, "/v.mp4", start, end, level, tier, "speech", 0.5, text)

    items = [
        ev(0, 60, "episodic", "video", "Said: quit voicemail"),
        ev(8, 22, "episodic", "chapter", "voicemail"),
        ev(15, 21, "speech", "utterance", "quit voicemail now"),
        ev(17, 18, "speech", "words", "voicemail"),
        ev(50, 51, "screen", "frame", "VOICEMAIL"),
        ev(50.5, 52, "screen", "frame", "VOICEMAIL"),
    ]
    n, moments = count_occurrences(items, ["voicemail"])
    assert n == 2 and [(m.tier, m.start) for m in moments] == [("speech", 15), ("screen", 50)]
    words = {
        VID: [
            {
                "start": 15.0,
                "end": 21.0,
                "text": "voicemail, voicemail",
                "words": [
                    {"start": 15.0, "end": 15.5, "text": "voicemail,"},
                    {"start": 16.0, "end": 16.5, "text": "voicemail"},
                ],
            }
        ]
    }
    n, moments = count_occurrences(items, ["voicemail"], words)
    assert n == 3 and [m.level for m in moments] == ["words", "words", "frame"]


# -- hygiene and citations -----------------------------------------------------------------------------
def test_no_internal_text_in_any_answer_and_citations_match(voicemail) -> None:
    for q in QUESTIONS:
        ans = voicemail.ask(q).to_dict()
        assert not INTERNAL.search(ans["answer"]), (q, ans["answer"])
        assert all(not INTERNAL.search(e["text"]) for e in ans["evidence"] + ans["citations"]), q
        if ans["abstained"]:
            continue
        cited = _cited(ans)
        assert ans["citations"] and len(cited) == len(ans["citations"]), (q, ans["answer"])
        for c, text in zip(ans["citations"], cited, strict=True):
            assert c["video_id"] == VID and c["end"] >= c["start"], q
            assert text.startswith(f"[{VID}.mp4 "), (q, text)


def test_segment_answer_quotes_what_was_said(voicemail) -> None:
    ans = voicemail.ask("voicemail pound key messages", max_steps=1).to_dict()
    assert not ans["abstained"] and "Key phrases" not in ans["answer"]
    assert ans["answer"].startswith('"') and "voicemail" in ans["answer"]


def test_after_cites_target_and_anchor(voicemail) -> None:
    ans = voicemail.ask("What is said right after 'press one now'?").to_dict()
    assert not ans["abstained"] and ans["answer"].startswith('"you may quit voicemail')
    assert [c["start"] for c in ans["citations"]] == [pytest.approx(15.0), pytest.approx(10.0 + 5 * 0.5)]
    assert "right after" in ans["answer"] and len(_cited(ans)) == 2


def test_hygiene_helpers() -> None:
    sec = sections(SEGMENTS[0][3])
    assert sec["said"] == SAID and sec["screen"] == "Python | Blender Foundation"
    assert sec["summary"].startswith("Key phrases")
    seg = Evidence(VID, "/v.mp4", 0, 60, "video", "episodic", "text", 0.5, SEGMENTS[0][3])
    assert spoken_text(seg).startswith(SAID) and "Key phrases" not in spoken_text(seg)
    short = spoken_text(seg, ("pound",), words=6)
    assert "pound" in short and short.startswith("…") and len(short.split()) <= 8
    empty = Evidence(VID, "/v.mp4", 40, 60, "chapter", "episodic", "text", 0.5, SEGMENTS[2][3])
    assert spoken_text(empty) == ""
    fact = Evidence(
        VID,
        "/v.mp4",
        1,
        2,
        "fact",
        "semantic",
        "semantic",
        0.5,
        "Name Chicago: mentioned 2 times in this video. Context: from Chicago. | in Chicago also.",
    )
    assert spoken_text(fact) == "from Chicago. | in Chicago also."
    assert scrub("Key phrases: a, b. It is at 0:15. Said: quit voicemail") == "It is at 0:15. quit voicemail"


def test_model_answer_is_scrubbed_and_cited() -> None:
    moment = Evidence(VID, "/v.mp4", 15, 21, "utterance", "speech", "speech", 0.8, SPEECH[1][2])
    draft, conf = from_model("Key phrases: voicemail. You quit at 0:16. confidence: 0.8", [moment], ("quit",))
    assert draft is not None and conf == 0.8 and draft.cites == [moment]
    assert draft.text == "You quit at 0:16. [v.mp4 0:15-0:21]"


# -- the LLM path: the same rules ------------------------------------------------------------------------
def _llm(server: FakeOpenAI):  # type: ignore[no-untyped-def]
    from memindex.llm import LLMConfig

    return LLMConfig(base_url=server.url, model="test", timeout=5.0, max_retries=0)


def test_llm_answer_without_support_abstains(voicemail) -> None:
    with FakeOpenAI() as server:
        server.reply_tool("search", {"query": "password"})
        server.reply_tool(
            "answer", {"answer": "The password is Python, at 0:50.", "confidence": 0.95}, call_id="call_2"
        )
        ans = voicemail.ask("When does someone talk about a password?", llm=_llm(server)).to_dict()
    assert ans["abstained"] and ans["citations"] == [] and ans["answer"].startswith("Not found in this store")


def test_llm_answer_is_cleaned_and_cited(voicemail) -> None:
    with FakeOpenAI() as server:
        server.reply_tool("search", {"query": "quit voicemail"})
        server.reply_tool(
            "answer",
            {
                "answer": "Key phrases: voicemail, pound key. Said: you may quit voicemail at any time, at 0:15",
                "confidence": 0.9,
            },
            call_id="call_2",
        )
        ans = voicemail.ask("When can you quit voicemail?", llm=_llm(server)).to_dict()
        tool_msg = [m for m in server.requests[1]["body"]["messages"] if m["role"] == "tool"][0]["content"]
    assert not ans["abstained"] and not INTERNAL.search(ans["answer"]) and ans["confidence"] <= 0.9
    assert ans["answer"].startswith("you may quit voicemail") and ans["citations"][0]["start"] == 15.0
    assert "Key phrases" not in tool_msg  # the model never sees the scaffolding either


# -- the real archive ------------------------------------------------------------------------------------
EVAL = Path(__file__).resolve().parents[2] / "benchmarks" / "eval"


@pytest.mark.slow
def test_real_archive_answers_keep_hit_at_1_and_unanswerable_abstain(real_archive) -> None:  # type: ignore[no-untyped-def]
    """The shared eval's questions keep the agent's hit@1 (0.94 in benchmarks/README.md); the unanswerable
    ones of benchmarks/eval/abstention.jsonl abstain at the reported rate (29 of 30); every answer is clean
    and cited."""
    from memindex.query.eval import interval_hit, load

    answerable = load(EVAL / "shared.jsonl")
    unanswerable = [json.loads(ln) for ln in (EVAL / "abstention.jsonl").read_text().splitlines() if ln.strip()]
    hits, answered, abstained = [], [], []
    with memindex.open(real_archive[0]) as index:
        for item, group in [*((q, answered) for q in answerable), *((q, abstained) for q in unanswerable)]:
            vid = index.reader.resolve_video(item["video"])
            ans = index.ask(item["question"], videos=[vid]).to_dict()
            if item in answerable:
                hits.append(interval_hit(ans["evidence"], item, vid, 1))
            group.append(ans["abstained"] if group is abstained else not ans["abstained"])
            assert not INTERNAL.search(ans["answer"]), (item["question"], ans["answer"])
            assert ans["abstained"] or (ans["citations"] and len(_cited(ans)) == len(ans["citations"])), ans
    assert round(sum(hits) / len(hits), 2) >= 0.94, hits  # 29 of 31, as before this change
    assert sum(answered) / len(answered) >= 0.9, answered
    assert sum(abstained) / len(abstained) >= 0.9, abstained

"""memindex.ingest.ocr on generated frames whose text (or lack of it) is known by construction."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from memindex.errors import ConfigError, MissingDependencyError
from memindex.ingest.ocr import (
    OCR_READERS,
    EdgePrefilter,
    OcrReader,
    ReadBudget,
    ScreenTextTracker,
    make_ocr_reader,
    text_similarity,
)
from memindex.ingest.records import SampledFrame

cv2 = pytest.importorskip("cv2")

W, H = 1280, 720


def plain(value: int = 90) -> np.ndarray:
    return np.full((H, W, 3), value, np.uint8)


def textured(seed: int = 0) -> np.ndarray:
    """Blurred colour noise: busy like foliage, but no text."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (H // 8, W // 8, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(noise, (W, H), interpolation=cv2.INTER_CUBIC), (0, 0), 3)


def with_text(image: np.ndarray, text: str = "HELLO 2026", org: tuple[int, int] = (360, 380)) -> np.ndarray:
    out = image.copy()
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, 3.0, (0, 0, 0), 14, cv2.LINE_AA)
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, 3.0, (255, 255, 255), 6, cv2.LINE_AA)
    return out


class ScriptedReader:
    """Test double: returns the scripted lines for each call in turn and counts calls."""

    name = "scripted"

    def __init__(self, script: list[list[str]], box=((10.0, 20.0), (110.0, 20.0), (110.0, 50.0), (10.0, 50.0))):
        self.script = script
        self.box = box
        self.calls = 0
        self.shapes: list[tuple[int, ...]] = []

    def read(self, image: np.ndarray):
        self.shapes.append(image.shape)
        lines = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        return [(text, 0.9, self.box) for text in lines]


def distinct_frames(n: int, step: float = 1.0) -> list[SampledFrame]:
    return [SampledFrame(i * step, textured(seed=i)) for i in range(n)]


@pytest.fixture(scope="module")
def rapid():
    pytest.importorskip("rapidocr_onnxruntime")
    return make_ocr_reader("rapidocr")


def test_reader_protocol_and_registry_names():
    assert set(OCR_READERS) == {"rapidocr", "tesseract"}
    assert isinstance(ScriptedReader([[]]), OcrReader)


def test_unknown_reader_name_lists_valid_ones():
    with pytest.raises(ConfigError) as info:
        make_ocr_reader("easyocr")
    assert "rapidocr" in str(info.value) and "tesseract" in str(info.value)


@pytest.mark.parametrize(
    ("module", "name", "extra"),
    [("rapidocr_onnxruntime", "rapidocr", "ocr"), ("pytesseract", "tesseract", "tesseract")],
)
def test_missing_package_names_its_extra(monkeypatch, module, name, extra):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingDependencyError) as info:
        make_ocr_reader(name)
    assert info.value.extra == extra


def test_text_similarity_folds_case_space_and_punctuation():
    assert text_similarity("The Peach, open!", "THE PEACH OPEN") == 1.0
    assert text_similarity("HELLO 2026", "HELL0 2026") > 0.8
    assert text_similarity("HELLO", "WORLD") < 0.5


def test_detector_prefilter_passes_text_and_rejects_textless(rapid):
    tracker = ScreenTextTracker(rapid)
    prefilter = tracker._prefilter
    for image in (with_text(plain()), with_text(textured(1))):
        assert prefilter(tracker._thumbnail(image))
    for image in (plain(), textured(2), textured(3)):
        assert not prefilter(tracker._thumbnail(image))


def test_edge_prefilter_on_plain_backgrounds():
    prefilter = EdgePrefilter()
    thumb = lambda im: cv2.resize(im, (320, 180), interpolation=cv2.INTER_AREA)  # noqa: E731
    assert prefilter(thumb(with_text(plain())))
    assert not prefilter(thumb(plain()))


def test_textless_frames_never_reach_the_reader(rapid):
    counting = ScriptedReader([["never"]])
    counting.detect = rapid.detect  # the real detector as prefilter, a counting reader behind it
    tracker = ScreenTextTracker(counting)
    for frame in distinct_frames(4):
        assert tracker.feed(frame) == []
    assert counting.calls == 0 and tracker.stats.prefiltered == 4


def test_identical_frames_are_read_once():
    reader = ScriptedReader([["HELLO 2026"]])
    tracker = ScreenTextTracker(reader, prefilter=None)
    image = with_text(textured(0))
    out = [rec for i in range(12) for rec in tracker.feed(SampledFrame(i * 0.5, image))]
    out += tracker.flush(6.0)
    assert reader.calls == 1
    assert tracker.stats.sampled == 6 and tracker.stats.deduped == 5 and tracker.stats.read == 1
    assert [(r.start, r.end, r.text) for r in out] == [(0.0, 6.0, "HELLO 2026")]


def test_lines_merge_fuzzily_and_split_when_text_changes():
    script = [["HELLO 2026"], ["HELL0 2026"], ["HELLO 2026", "WORLD"], ["WORLD"], ["WORLD"]]
    reader = ScriptedReader(script)
    tracker = ScreenTextTracker(reader, prefilter=None)
    finished = [rec for frame in distinct_frames(5) for rec in tracker.feed(frame)]
    assert [(r.start, r.end, r.text) for r in finished] == [(0.0, 3.0, "HELLO 2026")]
    last = tracker.flush(4.5)
    assert [(r.start, r.end, r.text) for r in last] == [(2.0, 4.5, "WORLD")]
    assert reader.calls == 5


def test_prefilter_rejection_closes_open_lines():
    reader = ScriptedReader([["HELLO"]])
    gate = iter([True, True, False])
    tracker = ScreenTextTracker(reader, prefilter=lambda thumb: next(gate))
    frames = distinct_frames(3)
    assert tracker.feed(frames[0]) == [] and tracker.feed(frames[1]) == []
    closed = tracker.feed(frames[2])
    assert [(r.start, r.end, r.text) for r in closed] == [(0.0, 2.0, "HELLO")]
    assert tracker.flush(3.0) == []


def test_samples_at_interval_from_any_frame_rate():
    reader = ScriptedReader([[]])
    tracker = ScreenTextTracker(reader, interval=1.0, prefilter=None, dedupe_threshold=-1)
    image = plain()
    for i in range(72):  # 3 s at 24 fps
        tracker.feed(SampledFrame(i / 24, image))
    assert tracker.stats.fed == 72 and tracker.stats.sampled == 3 and reader.calls == 3


def test_large_frames_are_downscaled_and_boxes_mapped_back():
    reader = ScriptedReader([["HELLO"]])
    tracker = ScreenTextTracker(reader, prefilter=None, max_side=640)
    tracker.feed(SampledFrame(0.0, textured(0)))
    (rec,) = tracker.flush(1.0)
    assert reader.shapes == [(360, 640, 3)]
    assert rec.box == ((20.0, 40.0), (220.0, 40.0), (220.0, 100.0), (20.0, 100.0))
    assert rec.frame_t == 0.0


def test_bad_interval_is_a_config_error():
    with pytest.raises(ConfigError):
        ScreenTextTracker(ScriptedReader([[]]), interval=0)


def _reader_or_skip(name: str) -> OcrReader:
    try:
        return make_ocr_reader(name)
    except MissingDependencyError as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("name", sorted(OCR_READERS))
def test_every_reader_reads_a_generated_frame(name):
    reader = _reader_or_skip(name)
    image = with_text(plain(60))
    lines = reader.read(image)
    assert reader.name
    texts = " ".join(text for text, _, _ in lines)
    assert text_similarity(texts, "HELLO 2026") > 0.8, lines
    text, confidence, box = lines[0]
    assert 0.0 < confidence <= 1.0 and len(box) == 4
    xs, ys = [x for x, _ in box], [y for _, y in box]
    assert min(xs) < 420 and max(xs) > 820 and min(ys) < 380 < max(ys) + 20


# -- the read budget: counted in video time, never in wall-clock time ------------------------------------


class LoadedClock:
    """Stands in for ``time`` inside memindex.ingest.ocr: each read takes ``read_seconds`` of wall-clock time."""

    def __init__(self, read_seconds: float):
        self.now = 0.0
        self.read_seconds = read_seconds

    def perf_counter(self) -> float:
        return self.now


class ClockedReader(ScriptedReader):
    def __init__(self, script, clock: LoadedClock):
        super().__init__(script)
        self.clock = clock

    def read(self, image):
        self.clock.now += self.clock.read_seconds
        return super().read(image)


def noise_frames(n: int, step: float = 1.0, start: float = 0.0) -> list[SampledFrame]:
    """Small frames that all differ (never deduped), ``step`` seconds apart."""
    rng = np.random.default_rng(7)
    return [SampledFrame(start + i * step, rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)) for i in range(n)]


def _run(tracker: ScreenTextTracker, frames: list[SampledFrame], end: float) -> list[tuple[float, float, str]]:
    out = [rec for frame in frames for rec in tracker.feed(frame)] + tracker.flush(end)
    return [(r.start, r.end, r.text) for r in out]


def test_reads_are_the_same_on_an_idle_and_a_loaded_machine(monkeypatch):
    import memindex.ingest.ocr as ocr_mod

    frames = noise_frames(90)
    script = [[f"CREDIT {i} LINE {j}" for j in range(12)] for i in range(90)]
    results = []
    for read_seconds in (0.01, 6.0):  # an idle machine, then one where every read takes 6 s
        clock = LoadedClock(read_seconds)
        monkeypatch.setattr(ocr_mod, "time", clock)
        tracker = ScreenTextTracker(ClockedReader(script, clock), prefilter=None)
        results.append((_run(tracker, frames, 90.0), tracker.stats.read, tracker.stats.budget_skipped))
    assert results[0] == results[1]
    assert 0 < results[0][2] < 90  # the budget did bite, identically


def test_dense_text_costs_at_most_the_budget_in_video_time():
    budget = ReadBudget(per_minute=20, burst=20, line_cost=0.25)
    reader = ScriptedReader([[f"NAME {j}" for j in range(20)]])  # 20 lines a read: 6 units each
    tracker = ScreenTextTracker(reader, prefilter=None, budget=budget)
    _run(tracker, noise_frames(600), 600.0)  # ten minutes of scrolling credits
    allowed = budget.burst + budget.per_minute * 10
    cost = 1 + budget.line_cost * 20
    assert reader.calls * cost <= allowed + cost  # the last read may overdraw by its own cost
    assert reader.calls >= allowed / cost - 1  # and the budget is spent, not starved
    assert tracker.stats.budget_skipped == 600 - reader.calls


def test_title_cards_after_dense_credits_are_all_read():
    """90 s of dense credits spend the budget; five title cards from 20 s later (3 s each, 10 s apart) are
    all read, since the bucket refills in video time."""
    titles = ["OPENING NIGHT", "THE PEACH PROJECT", "REVENGE IS COMING", "MADE WITH BLENDER", "SEE YOU SOON"]
    card_images = noise_frames(len(titles))
    frames = noise_frames(90)
    frames += [SampledFrame(110.0 + 10 * k + j, card_images[k].image.copy()) for k in range(5) for j in range(3)]
    script = [[f"NAME {i}.{j}" for j in range(20)] for i in range(90)] + [[t] for t in titles for _ in range(3)]
    tracker = ScreenTextTracker(FrameScriptReader(script, frames), prefilter=None)
    texts = {text for _, _, text in _run(tracker, frames, 160.0)}
    assert set(titles) <= texts
    assert tracker.stats.budget_skipped > 0  # the credits were thinned


class FrameScriptReader(ScriptedReader):
    """Returns the script entry of the frame being read (a fixed video), whichever frames the tracker skips."""

    def __init__(self, script, frames: list[SampledFrame]):
        super().__init__(script)
        for i, frame in enumerate(frames):
            frame.image[0, 0, :2] = (i % 256, i // 256)

    def read(self, image):
        self.calls += 1
        return [(text, 0.9, self.box) for text in self.script[int(image[0, 0, 0]) + 256 * int(image[0, 0, 1])]]


def test_budget_settings_are_part_of_the_stage_name():
    tracker = ScreenTextTracker(ScriptedReader([[]]), budget=ReadBudget(per_minute=12, burst=5, line_cost=0.5))
    assert tracker.name.startswith("scripted ")
    assert "budget=12/min burst=5 line_cost=0.5" in tracker.name and "interval=1" in tracker.name
    assert "budget=none" in ScreenTextTracker(ScriptedReader([[]]), budget=None).name


@pytest.mark.parametrize("bad", [dict(per_minute=-1), dict(burst=0), dict(line_cost=-0.1)])
def test_bad_budget_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        ReadBudget(**bad)


def test_the_reader_runs_on_the_cores_its_task_is_given(monkeypatch):
    """A local worker's or Ray task's share of the cores caps ONNX Runtime's threads; inline leaves them."""
    from types import SimpleNamespace

    from memindex.ingest import ocr, visual_pass
    from memindex.ingest.config import IngestConfig
    from memindex.ingest.work import Models

    made = []
    monkeypatch.setattr(ocr, "make_ocr_reader", lambda name, **kw: made.append((name, kw)) or object())
    for cores in (None, 1):
        job = SimpleNamespace(config=IngestConfig(), task=SimpleNamespace(cores=cores), models=Models(None))
        assert visual_pass._tracker(job) is not None
    assert made == [("rapidocr", {}), ("rapidocr", {"threads": 1})]

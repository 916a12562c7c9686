"""A cold ``memindex query`` loads only what the query needs (issue 11): a speech query in a fresh process
imports neither CLIP nor the sentence-transformers stack, the visual tier opens and is checked without CLIP
weights, and the cold answer is the warm one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import memindex
from memindex.catalog.models import Utterance, Video
from memindex.config import FrameEncoderConfig, StoreConfig, TextEncoderConfig
from memindex.errors import EncoderMismatchError
from memindex.store import DocRow, Store

HEAVY = ("open_clip", "torch", "sentence_transformers", "transformers", "sklearn")
LINES = [
    (1.0, 4.0, "ask not what your country can do for you"),
    (5.0, 9.0, "the gaudy spring and the riper should by time decease"),
    (10.0, 12.0, "to look into your messages press one now"),
    (13.0, 15.0, "a big rabbit wakes up in the forest"),
    (16.0, 19.0, "mister john dashwood had then leisure to consider"),
]
QUERY = "what can you do for your country"


def _minilm() -> TextEncoderConfig:
    pytest.importorskip("sentence_transformers")
    from memindex.encoders.text import packaged_minilm_path

    try:
        packaged_minilm_path()
    except memindex.MemIndexError as exc:
        pytest.skip(f"packaged MiniLM unavailable: {exc}")
    return TextEncoderConfig(name="minilm")


def _frames(arch: str = "ViT-B-32") -> FrameEncoderConfig:
    """A CLIP config whose identity comes from its config (no weights exist here, and none are needed)."""
    pytest.importorskip("open_clip")
    return FrameEncoderConfig(arch=arch, pretrained=None)


def _fill(store: Store, vid: str = "c01dc01d") -> None:
    """Speech docs embedded by the store's text encoder, and visual docs with unit vectors of CLIP's size."""
    with store.write() as txn:
        txn.session.add(
            Video(id=vid, uri=f"/videos/{vid}.mp4", sha256=vid * 8, size_bytes=1, duration=20.0, status="ready")
        )
        txn.session.flush()
        rows = []
        for start, end, text in LINES:
            u = Utterance(video_id=vid, start=start, end=end, text=text)
            txn.session.add(u)
            txn.session.flush()
            rows.append(DocRow(vid, u.id, start, end, text))
        txn.add_docs("speech", rows, store.text_embedder.embed([r.text for r in rows]))
        vecs = np.random.default_rng(0).standard_normal((3, 512)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        txn.add_docs("visual", [DocRow(vid, i, 2.0 * i, 2.0 * i + 1, "") for i in range(3)], vecs)


@pytest.fixture(scope="module")
def minilm_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cold") / "store"
    store = Store(root, config=StoreConfig(text=_minilm(), frame=_frames()))
    _fill(store)
    store.close()
    return root


def _fresh(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """``python -X importtime ...`` in a fresh interpreter: the run and the modules it imported."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-X", "importtime", *args], capture_output=True, text=True, env=env, timeout=600
    )
    imported = {line.rsplit("|", 1)[1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    return run, imported


def test_a_cold_speech_query_imports_no_clip_and_no_torch(minilm_store: Path) -> None:
    run, imported = _fresh(
        "-m", "memindex", "query", QUERY, "--store", str(minilm_store), "--tiers", "speech", "--json"
    )
    assert run.returncode == 0, run.stderr[-3000:]
    hits = json.loads(run.stdout)["hits"]
    assert hits and hits[0]["text"] == LINES[0][2]
    assert hits[0]["signals"]["cosine"] > 0.5 and "memindex.encoders.bert" in imported  # MiniLM embedded it
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_the_cold_answer_is_the_warm_one(minilm_store: Path) -> None:
    run, _ = _fresh("-m", "memindex", "query", QUERY, "--store", str(minilm_store), "--json", "-k", "5")
    assert run.returncode == 0, run.stderr[-3000:]
    cold = json.loads(run.stdout)["hits"]
    index = memindex.open(minilm_store)
    for _ in range(2):  # the first search loads the encoder and tiers, the second finds them loaded
        warm = [h.to_dict() for h in index.search(QUERY, k=5)]
        assert json.loads(json.dumps(warm, default=str)) == cold
    assert [h["tier"] for h in cold] and {h["tier"] for h in cold} == {"speech"}


def test_the_visual_tier_opens_and_updates_without_clip(minilm_store: Path, tmp_path: Path) -> None:
    """Opening, reconciling and deleting from the visual tier check its encoder against the config; no
    CLIP weights load (they are needed only to embed a query for it)."""
    copy = tmp_path / "store"
    shutil.copytree(minilm_store, copy)
    code = (
        "import sys, memindex\n"
        f"index = memindex.open({str(copy)!r})\n"
        "tier = index.store.tier('visual')\n"
        "assert tier.ntotal == 3 and tier.encoder == 'openclip:ViT-B-32:None' and tier.dim == 512\n"
        "index.store.delete_video('c01dc01d')\n"
        "assert index.store.tier('visual').ntotal == 0\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == "[]"


def test_a_visual_tier_of_another_clip_is_refused_without_loading_it(tmp_path: Path) -> None:
    """The tier file says which encoder made it; the store's config says which one it has: a mismatch is
    refused from the two, before any weights load."""
    text = TextEncoderConfig(name="hashing")
    other = Store(tmp_path / "b16", config=StoreConfig(text=text, frame=_frames("ViT-B-16")))
    _fill(other)
    mine = Store(tmp_path / "b32", config=StoreConfig(text=text, frame=_frames()))
    _fill(mine)
    shutil.copy(other.dir / "tiers" / "visual.faiss", mine.dir / "tiers" / "visual.faiss")
    code = (
        "import sys, memindex\n"
        "from memindex.errors import EncoderMismatchError\n"
        f"store = memindex.open({str(tmp_path / 'b32')!r}).store\n"
        "try:\n    store.tier('visual')\nexcept EncoderMismatchError as exc:\n    print('refused:', exc)\n"
        "print('open_clip' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    said, loaded = run.stdout.strip().splitlines()
    assert "openclip:ViT-B-16:None" in said and "openclip:ViT-B-32:None" in said, said
    assert loaded == "False"
    with pytest.raises(EncoderMismatchError):
        Store(tmp_path / "b32").tier("visual")


def test_the_query_pass_gives_sentence_transformers_vectors() -> None:
    """The numpy pass that embeds queries computes what sentence-transformers computes, to float32 rounding,
    and ranks a corpus embedded by sentence-transformers the same way."""
    from memindex.encoders.bert import NumpyBert
    from memindex.encoders.text import MiniLMEmbedder

    emb = MiniLMEmbedder(_minilm())
    texts = [QUERY, "  Café crème à la Zoë  ", "", "x", "press 1 now", "日本語のテキスト", "word " * 400]
    bert = NumpyBert.load(Path(emb._source))
    assert bert is not None
    mine = emb.embed_query(texts)
    assert np.abs(mine - emb.embed(texts)).max() < 1e-5
    assert np.abs(bert.embed(texts) - mine).max() < 1e-6  # a batch (padded) gives each text's own vector
    corpus = emb.embed([t for _, _, t in LINES])
    for query in (QUERY, "rabbit in a forest", "press one", "spring"):
        fast, slow = corpus @ emb.embed_query([query])[0], corpus @ emb.embed([query])[0]
        assert list(np.argsort(-fast)) == list(np.argsort(-slow)), query


def test_a_model_the_pass_does_not_compute_is_left_to_sentence_transformers(tmp_path: Path) -> None:
    """Prompts (e5, bge) or another pooling: queries then go through sentence-transformers as before."""
    from memindex.encoders.bert import NumpyBert
    from memindex.encoders.text import packaged_minilm_path

    _minilm()
    source = packaged_minilm_path()
    for change, value in (
        ("config_sentence_transformers.json", {"prompts": {"query": "query: "}}),
        ("1_Pooling/config.json", {"pooling_mode_cls_token": True}),
    ):
        folder = tmp_path / change.replace("/", "_")
        shutil.copytree(source, folder, ignore=shutil.ignore_patterns("model.safetensors"))
        (folder / "model.safetensors").symlink_to(source / "model.safetensors")
        data = json.loads((folder / change).read_text())
        data.update(value)
        (folder / change).write_text(json.dumps(data))
        assert NumpyBert.load(folder) is None, change
    assert NumpyBert.load(source) is not None


def test_clip_identity_from_config_is_what_loading_gives() -> None:
    """The visual tier is checked against ``OpenClipEmbedder.identity`` before CLIP loads; loading must agree
    (the store refuses the loaded embedder otherwise)."""
    from memindex.encoders.clip import OpenClipEmbedder

    cfg = _frames()
    emb = OpenClipEmbedder(cfg)
    assert OpenClipEmbedder.identity(cfg) == (emb.name, emb.dim) == ("openclip:ViT-B-32:None", 512)

"""OpenCLIP keyframe embeddings with a small architecture (no weights offline): the real loading code,
the pending visual tier when a checkpoint is missing, and ``backfill`` once it appears."""

from __future__ import annotations

import numpy as np
import pytest

import memindex
from memindex.config import FrameEncoderConfig, StoreConfig, TextEncoderConfig
from memindex.encoders.clip import OpenClipEmbedder
from memindex.errors import StageError
from memindex.ingest.config import AsrConfig, IngestConfig, OcrConfig

ARCH = "ViT-S-32"
NO_MODELS = IngestConfig(asr=AsrConfig(enabled=False), ocr=OcrConfig(enabled=False))


def test_random_weights_embed_images_and_text(caplog) -> None:  # type: ignore[no-untyped-def]
    emb = OpenClipEmbedder(FrameEncoderConfig(arch=ARCH, pretrained=None))
    assert "random weights" in caplog.text
    imgs = emb.embed_images([np.zeros((64, 80, 3), np.uint8), np.full((50, 50, 3), 200, np.uint8)])
    txt = emb.embed_text(["a photo of a cat"])
    assert imgs.shape == (2, emb.dim) and txt.shape == (1, emb.dim)
    assert np.allclose(np.linalg.norm(imgs, axis=1), 1, atol=1e-4)


def test_missing_checkpoint_is_a_stage_error(tmp_path) -> None:
    with pytest.raises(StageError, match="cannot load OpenCLIP"):
        OpenClipEmbedder(FrameEncoderConfig(arch=ARCH, pretrained=str(tmp_path / "missing.pt")))


def test_pending_then_backfill(tmp_path, cut_video) -> None:
    import open_clip
    import torch

    ckpt = tmp_path / "clip.pt"
    cfg = StoreConfig(text=TextEncoderConfig(name="hashing"), frame=FrameEncoderConfig(arch=ARCH, pretrained=str(ckpt)))
    index = memindex.open(tmp_path / "store", config=cfg)
    report = index.ingest([cut_video[0]], config=NO_MODELS)
    assert report.ok
    vis = index.stats()["tiers"]["visual"]
    assert vis["rows"] > 0 and vis["pending"] == vis["rows"]
    assert index.stats()["pending_stages"] == {"visual": 1}

    torch.save(open_clip.create_model(ARCH, pretrained=None).state_dict(), ckpt)  # the weights arrive
    later = memindex.open(tmp_path / "store")
    result = later.backfill("visual")
    assert result["filled"] == vis["rows"]
    vis = later.stats()["tiers"]["visual"]
    assert vis["pending"] == 0 and later.stats()["pending_stages"] == {}
    hits = later.search("a red scene", k=3, tiers=["visual"])
    assert hits and all(h.tier == "visual" and h.keyframe for h in hits)


@pytest.mark.parametrize("why", ["unreachable", "HF_HUB_OFFLINE"])
def test_weights_that_cannot_be_downloaded_fail_fast_with_one_message(why, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Unreachable hub or HF_HUB_OFFLINE, the same stored words: the pending stage's message is part of the
    index, and a Ray worker need not share the driver's environment."""
    import time

    import memindex.encoders.clip as clip

    if why == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setattr(clip, "hub_reachable", lambda *a, **k: pytest.fail("offline: the hub is not asked"))
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(clip, "hub_reachable", lambda *a, **k: False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    t0 = time.perf_counter()
    with pytest.raises(StageError) as err:
        OpenClipEmbedder(FrameEncoderConfig(arch="ViT-B-32", pretrained="laion2b_s34b_b79k"))
    assert time.perf_counter() - t0 < 10
    assert str(err.value).startswith(
        "OpenCLIP ViT-B-32 weights 'laion2b_s34b_b79k' are not in the local cache and cannot be downloaded"
    )

"""The plain baseline memindex must beat: the same ASR transcript (the utterances already in a store), one
all-MiniLM-L6-v2 vector per utterance, cosine top-k. No shots, OCR, hierarchy, keywords or fusion: what a
user would write in an afternoon with sentence-transformers.

    python benchmarks/baseline.py --store /tmp/shared-store "someone talks about civic duty"
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
from sqlalchemy import text  # noqa: E402

import memindex  # noqa: E402
from memindex.encoders.text import packaged_minilm_path  # noqa: E402

__all__ = ["Baseline"]


class Baseline:
    """Cosine top-k over one MiniLM vector per utterance of ``index``'s store (all videos, embedded once)."""

    def __init__(self, index: memindex.MemoryIndex, model: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(model or str(packaged_minilm_path()), device="cpu")
        with index.store.engine.connect() as conn:
            rows = conn.execute(text('SELECT video_id, start, "end", text FROM utterances ORDER BY id')).all()
        self.rows = [r for r in rows if r[3] and r[3].strip()]
        self.videos = np.array([r[0] for r in self.rows])
        self.vectors = self._encode([r[3] for r in self.rows])

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(
            list(texts), batch_size=64, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )

    def search(self, query: str, k: int = 10, videos: Sequence[str] | None = None) -> list[dict]:
        """Hits as dicts shaped like ``Hit.to_dict()`` (video_id, start, end, text, score), best first."""
        if not self.rows:
            return []
        scores = self.vectors @ self._encode([query])[0]
        if videos:
            scores = np.where(np.isin(self.videos, list(videos)), scores, -np.inf)
        order = [i for i in np.argsort(-scores)[:k] if np.isfinite(scores[i])]
        return [
            {
                "video_id": self.rows[i][0],
                "start": float(self.rows[i][1]),
                "end": float(self.rows[i][2]),
                "text": self.rows[i][3],
                "score": round(float(scores[i]), 4),
            }
            for i in order
        ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("query")
    ap.add_argument("--store", required=True)
    ap.add_argument("-k", type=int, default=5)
    args = ap.parse_args()
    with memindex.open(Path(args.store), create=False) as index:
        for hit in Baseline(index).search(args.query, args.k):
            print(json.dumps(hit, ensure_ascii=False))


if __name__ == "__main__":
    main()

"""Fixtures of the server tests: generated videos under an allowed root, a fake agent, a service with one
ingested video, the FastAPI app, and a live uvicorn server on a free port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from memindex.api import AGENTS
from memindex.ingest.config import AsrConfig, IngestConfig, OcrConfig
from memindex.server.service import Service, ServiceConfig
from tests.media import Scene, make_video

NO_MODELS = IngestConfig(asr=AsrConfig(enabled=False), ocr=OcrConfig(enabled=False))
OCR_ONLY = IngestConfig(asr=AsrConfig(enabled=False))  # on-screen text makes the videos searchable
TOKEN = "test-token-0123456789abcdef"


class FakeAnswer:
    def __init__(self, question: str, evidence: list[dict]) -> None:
        self.question, self.evidence = question, evidence

    def to_dict(self) -> dict:
        return {
            "answer": f"fake answer to {self.question!r}",
            "confidence": 0.5,
            "evidence": self.evidence,
            "trace": [{"type": "search", "query": self.question}],
            "cost": {"steps": 1},
        }


class FakeAgent:
    """Stands in for ``memindex.query.agent``: one search, its hits as evidence."""

    def __init__(self, index) -> None:  # type: ignore[no-untyped-def]
        self.index = index

    def ask(self, question: str, max_steps: int = 4, **_: object) -> FakeAnswer:
        hits = self.index.search(question, k=3, tiers=["visual", "episodic"])
        return FakeAnswer(question, [h.to_dict() for h in hits])

    def stream(self, question: str, max_steps: int = 4, **_: object) -> Iterator[dict]:
        yield {"type": "search", "query": question}
        yield {"type": "answer", **self.ask(question).to_dict()}


AGENTS.register("fake", FakeAgent)


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Allowed root with two small generated videos (different content, so different ids)."""
    root = tmp_path_factory.mktemp("allowed")
    make_video(root / "a.mp4", [Scene(1.5, 0), Scene(1.5, 90, "ALPHA 1")], size=(320, 180))
    make_video(root / "b.mp4", [Scene(1.0, 30), Scene(1.5, 150, "BRAVO 2"), Scene(1.0, 60)], size=(320, 180))
    return root


def make_service(store: Path, roots: list[Path], light_config, **kw) -> Service:  # type: ignore[no-untyped-def]
    return Service(
        ServiceConfig(
            store=store,
            allowed_roots=tuple(roots),
            store_config=light_config,
            ingest_options={"config": OCR_ONLY},
            agent="fake",
            **kw,
        )
    )


def ingest_wait(svc: Service, path: Path, collection: str = "default") -> dict:
    job = svc.submit_ingest(collection, str(path))
    assert job.wait(120), "ingest did not finish"
    assert job.status == "done", job.error
    return job.result or {}


@pytest.fixture()
def service(tmp_path: Path, media_root: Path, light_config) -> Iterator[Service]:  # type: ignore[no-untyped-def]
    svc = make_service(tmp_path / "store", [media_root], light_config)
    ingest_wait(svc, media_root / "a.mp4")
    yield svc
    svc.close()


@pytest.fixture()
def video_id(service: Service) -> str:
    return service.reader("default").videos()[0]["id"]


@pytest.fixture()
def client(service: Service) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from memindex.server.http import create_app

    with TestClient(create_app(service), base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def live_url(service: Service) -> Iterator[str]:
    """The app under a real uvicorn on 127.0.0.1, token required (as a remote deployment would be)."""
    import uvicorn

    from memindex.server.http import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(service, token=TOKEN), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)

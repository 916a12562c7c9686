"""Every HTTP endpoint on a real store (generated video with on-screen text, fake agent)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.server.conftest import ingest_wait


def test_health_and_openapi(client) -> None:
    assert client.get("/v1/health").json()["status"] == "ok"
    spec = client.get("/openapi.json").json()
    for path in ("/v1/health", "/v1/videos", "/v1/jobs/{job_id}", "/v1/videos/{video}", "/v1/search",
                 "/v1/ask", "/v1/ask/stream", "/v1/segments/{segment_id}", "/v1/videos/{video}/transcript",
                 "/v1/frames/{frame_id}.jpg"):
        assert path in spec["paths"], path


def test_list_and_show_videos(client, video_id) -> None:
    videos = client.get("/v1/videos").json()["videos"]
    assert [v["id"] for v in videos] == [video_id]
    assert {"id", "uri", "duration", "status"} <= set(videos[0]) and videos[0]["status"] == "ready"
    detail = client.get(f"/v1/videos/{video_id}").json()
    assert detail["stages"]["shots"]["status"] == "done"
    assert client.get("/v1/videos/ffffffffffffffff").status_code == 404


def test_search_matches_cli_json(client, service, video_id) -> None:
    body = client.post("/v1/search", json={"query": "alpha", "k": 5}).json()
    assert body["hits"] and body["hits"][0]["text"] == "ALPHA 1"
    hit = body["hits"][0]
    assert hit["video_id"] == video_id and hit["uri"].endswith("a.mp4") and hit["end"] >= hit["start"]
    cli = subprocess.run([sys.executable, "-m", "memindex.cli", "query", "alpha", "-k", "5", "--json",
                          "--store", str(service.root)], capture_output=True, text=True, check=True)
    assert json.loads(cli.stdout) == body
    filtered = client.post("/v1/search", json={"query": "alpha", "k": 5, "start": 0, "end": 1.0}).json()
    assert filtered["hits"] == []


def test_ask_and_stream(client, video_id) -> None:
    answer = client.post("/v1/ask", json={"question": "where is alpha", "max_steps": 2}).json()
    assert set(answer) >= {"answer", "confidence", "evidence", "trace", "cost"}
    with client.stream("POST", "/v1/ask/stream", json={"question": "where is alpha"}) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        text = "".join(resp.iter_text())
    events = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
    assert events[0] == "step" and events[-1] == "answer"
    last = json.loads([line for line in text.splitlines() if line.startswith("data: ")][-1][6:])
    assert last["type"] == "answer" and last["answer"]
    assert client.post("/v1/ask", json={"question": " "}).json()["code"] == "bad_query"
    assert client.post("/v1/ask", json={"question": "x", "max_steps": 10**6}).status_code == 400


def test_segments_transcript_screen_text_frames(client, video_id) -> None:
    tree = client.get(f"/v1/videos/{video_id}/browse", params={"level": "video"}).json()["segments"]
    shot = tree[0]["children"][0]
    seg = client.get(f"/v1/segments/{shot['id']}").json()
    assert seg["video_id"] == video_id and seg["level"] == shot["level"] and seg["uri"].endswith("a.mp4")
    assert client.get("/v1/segments/999999").json()["code"] == "not_found"
    tr = client.get(f"/v1/videos/{video_id}/transcript", params={"start": 0, "end": 2}).json()
    assert tr == {"utterances": []}  # ASR is off in these tests
    lines = client.get(f"/v1/videos/{video_id}/screen_text").json()["lines"]
    assert [ln["text"] for ln in lines] == ["ALPHA 1"]
    frames = client.get(f"/v1/videos/{video_id}/frames", params={"n": 2}).json()["frames"]
    assert 1 <= len(frames) <= 2
    jpeg = client.get(frames[0]["url"])
    assert jpeg.headers["content-type"] == "image/jpeg" and jpeg.content[:3] == b"\xff\xd8\xff"
    assert client.get("/v1/frames/123456.jpg").status_code == 404
    assert client.get(f"/v1/videos/{video_id}/frames", params={"n": 10**6}).status_code == 400


def test_ingest_job_and_delete(client, service, media_root) -> None:
    job = client.post("/v1/videos", json={"path": str(media_root / "b.mp4")})
    assert job.status_code == 202
    job_id = job.json()["id"]
    assert service.job(job_id).wait(60)
    done = client.get(f"/v1/jobs/{job_id}").json()
    assert done["status"] == "done" and len(done["result"]["ingested"]) == 1
    vid = done["result"]["ingested"][0]["video_id"]
    assert client.post("/v1/search", json={"query": "bravo", "k": 3}).json()["hits"][0]["video_id"] == vid
    assert client.delete(f"/v1/videos/{vid}").json()["status"] == "done"
    assert all(h["video_id"] != vid for h in client.post("/v1/search", json={"query": "bravo"}).json()["hits"])
    assert client.delete(f"/v1/videos/{vid}").status_code == 404
    assert client.get("/v1/jobs/nope").status_code == 404


def test_same_video_again_is_skipped(service, media_root) -> None:
    result = ingest_wait(service, media_root / "a.mp4")
    assert result["skipped"] and not result["ingested"]


def test_ask_with_the_real_agent(tmp_path, media_root, light_config) -> None:
    """The `default` agent (query.agent) behind POST /v1/ask and its stream."""
    from fastapi.testclient import TestClient

    from memindex.server.http import create_app
    from memindex.server.service import Service, ServiceConfig
    from tests.server.conftest import OCR_ONLY

    svc = Service(ServiceConfig(store=tmp_path / "real", allowed_roots=(media_root,), store_config=light_config,
                                ingest_options={"config": OCR_ONLY}, agent="default"))
    try:
        ingest_wait(svc, media_root / "a.mp4")
        with TestClient(create_app(svc, mcp=False), base_url="http://127.0.0.1") as c:
            answer = c.post("/v1/ask", json={"question": "where does ALPHA appear?", "max_steps": 3}).json()
            assert set(answer) >= {"answer", "confidence", "evidence", "trace", "cost"}, answer
            assert all({"video_id", "uri", "start", "end"} <= set(ev) for ev in answer["evidence"])
            with c.stream("POST", "/v1/ask/stream", json={"question": "where does ALPHA appear?"}) as resp:
                text = "".join(resp.iter_text())
            assert "event: answer" in text and "event: error" not in text
    finally:
        svc.close()


def test_out_of_range_and_malformed_ids_are_404_on_one_connection(live_url) -> None:
    """Ids over SQLite's 2**63 - 1 were a 500 that dropped the keep-alive connection."""
    import httpx

    from tests.server.conftest import TOKEN
    from tests.server.live import local_port

    paths = ["/v1/segments/9223372036854775808", "/v1/frames/9223372036854775808.jpg", f"/v1/segments/{1 << 70}",
             "/v1/segments/-1", "/v1/frames/-5.jpg", "/v1/segments/abc", "/v1/frames/1e3.jpg", "/v1/segments/1.5"]
    with httpx.Client(base_url=live_url, headers={"authorization": f"Bearer {TOKEN}"}) as http:
        first = http.get("/v1/health")
        for path in paths:
            resp = http.get(path)
            assert resp.status_code == 404, (path, resp.status_code)
            assert resp.json()["code"] == "not_found" and resp.json()["message"], path
            assert local_port(resp) == local_port(first), f"{path} dropped the connection"
        assert http.get("/v1/health").status_code == 200


def test_service_refuses_ids_sqlite_cannot_hold(service) -> None:
    import pytest

    from memindex.errors import NotFoundError

    for bad in (1 << 63, -1, True):
        with pytest.raises(NotFoundError):
            service.segment("default", bad)
        with pytest.raises(NotFoundError):
            service.frame_jpeg("default", bad)


def _raiser(exc: Exception):  # type: ignore[no-untyped-def]
    def boom(*_a, **_k):  # type: ignore[no-untyped-def]
        raise exc

    return boom


def test_route_errors_map_to_their_status(client, service, monkeypatch, caplog) -> None:
    from memindex.llm import LLMError
    from memindex.server.security import ForbiddenPathError

    cases = [(LLMError("LLM endpoint answered 503"), 502, "llm"), (ForbiddenPathError("outside"), 403,
             "forbidden_path"), (RuntimeError("secret internals /srv/x.py"), 500, "internal"),
             (OverflowError("Python int too large to convert to SQLite INTEGER"), 500, "internal")]
    for exc, status, code in cases:
        monkeypatch.setattr(service, "search", _raiser(exc))
        resp = client.post("/v1/search", json={"query": "alpha"})
        assert resp.status_code == status and resp.json()["code"] == code, (exc, resp.text)
        assert set(resp.json()) >= {"code", "message"}
    assert "secret" not in resp.text and "secret internals" in caplog.text and "Traceback" in caplog.text


def test_internal_errors_keep_the_connection(live_url, service, monkeypatch) -> None:
    import httpx

    from tests.server.conftest import TOKEN
    from tests.server.live import local_port

    monkeypatch.setattr(service, "search", _raiser(RuntimeError("boom")))
    with httpx.Client(base_url=live_url, headers={"authorization": f"Bearer {TOKEN}"}) as http:
        first = http.post("/v1/search", json={"query": "alpha"})
        assert first.status_code == 500 and first.json() == {"code": "internal", "message": "internal server error"}
        second = http.get("/v1/videos")
        assert second.status_code == 200 and local_port(second) == local_port(first)


def test_client_raises_the_server_error_class() -> None:
    from memindex.llm import LLMError
    from memindex.server.security import ForbiddenPathError
    from memindex.server.service import _error_from

    assert isinstance(_error_from({"code": "llm", "message": "down"}), LLMError)
    assert isinstance(_error_from({"code": "forbidden_path", "message": "no"}), ForbiddenPathError)


def test_non_finite_times_and_bad_n_are_400(client, video_id) -> None:
    base = f"/v1/videos/{video_id}"
    gets = [(f"{base}/transcript", {"start": "nan"}), (f"{base}/screen_text", {"end": "inf"}),
            (f"{base}/frames", {"start": "-inf"}), (f"{base}/browse", {"end": "NaN"}),
            (f"{base}/transcript", {"start": 0, "end": "Infinity"}), (f"{base}/frames", {"n": 0}),
            (f"{base}/frames", {"n": -3})]
    for path, params in gets:
        resp = client.get(path, params=params)
        assert resp.status_code == 400 and resp.json()["code"] == "bad_query", (path, params, resp.text)
    for literal in ("NaN", "Infinity", "-Infinity"):
        for key in ("start", "end"):
            body = f'{{"query": "alpha", "{key}": {literal}}}'.encode()
            resp = client.post("/v1/search", content=body, headers={"content-type": "application/json"})
            assert resp.status_code == 400 and resp.json()["code"] == "bad_query", (key, literal, resp.text)
    assert client.get(f"{base}/transcript", params={"start": 0, "end": 2.5}).status_code == 200

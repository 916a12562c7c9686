"""Every HTTP endpoint on a real store (generated video with on-screen text, fake agent)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.server.conftest import ingest_wait


def _operations(spec: dict) -> dict[str, dict]:
    return {
        o["operationId"]: {**o, "path": path, "method": method}
        for path, item in spec["paths"].items()
        for method, o in item.items()
    }


def test_health_and_openapi(client) -> None:
    import memindex
    from memindex.operations import OPERATIONS

    assert client.get("/v1/health").json() == {"status": "ok", "version": memindex.__version__}
    spec = client.get("/openapi.json").json()
    ops = _operations(spec)
    assert set(ops) == {op.name for op in OPERATIONS}, "operationIds are the operation names"
    for op in OPERATIONS:
        route = ops[op.name]
        assert (route["path"], route["method"]) == (op.path, op.method.lower()), op.name
        assert route["description"] == op.description and route["summary"] == op.title
        errors = {code: r for code, r in route["responses"].items() if code.startswith(("4", "5"))}
        assert {"400", "404", "500"} <= set(errors), op.name
        assert all(
            r["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
            for r in errors.values()
        ), op.name
        assert route["security"] == ([{"bearer": []}] if op.auth else [])
        if op.result not in ("JPEG", "AnswerStream"):
            ok = route["responses"]["202" if op.job else "200"]["content"]["application/json"]["schema"]
            assert ok == {"$ref": f"#/components/schemas/{op.result}"}, op.name
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert (
        "HTTPValidationError" not in str(spec) and "detail" not in spec["components"]["schemas"]["Error"]["properties"]
    )
    body = spec["components"]["schemas"]["SearchBody"]["properties"]
    assert body["tiers"]["anyOf"][0]["items"]["enum"] == ["speech", "screen", "visual", "episodic", "semantic"]
    assert body["k"]["description"] and body["query"]["description"]


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
    cli = subprocess.run(
        [sys.executable, "-m", "memindex.cli", "query", "alpha", "-k", "5", "--json", "--store", str(service.root)],
        capture_output=True,
        text=True,
        check=True,
    )
    local = json.loads(cli.stdout)  # the CLI shows keyframes as paths on this disk, the API as URLs
    for mine, theirs in zip(local["hits"], body["hits"], strict=True):
        kf, url_kf = mine.pop("keyframe"), theirs.pop("keyframe")
        assert mine == theirs and url_kf == {
            "frame_id": kf["frame_id"],
            "t": kf["t"],
            "url": (f"/v1/frames/{kf['frame_id']}.jpg?collection=default"),
        }
    assert str(service.root) not in json.dumps(body)
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
    assert tr == {"video_id": video_id, "uri": seg["uri"], "utterances": []}  # ASR is off in these tests
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
    assert client.delete(f"/v1/videos/{vid}").json() == {"id": vid, "uri": str(media_root / "b.mp4"), "name": "b.mp4"}
    assert all(h["video_id"] != vid for h in client.post("/v1/search", json={"query": "bravo"}).json()["hits"])
    assert client.delete(f"/v1/videos/{vid}").status_code == 404
    assert client.get("/v1/jobs/nope").status_code == 404


def test_same_video_again_is_skipped(service, media_root) -> None:
    result = ingest_wait(service, media_root / "a.mp4")
    assert result["skipped"] and not result["ingested"]


def test_ask_with_the_real_agent(tmp_path, media_root, light_config) -> None:
    """The `default` agent (memindex.query.agent) behind POST /v1/ask and its stream."""
    from fastapi.testclient import TestClient

    from memindex.server.http import create_app
    from memindex.server.service import Service, ServiceConfig
    from tests.server.conftest import OCR_ONLY

    svc = Service(
        ServiceConfig(
            store=tmp_path / "real",
            allowed_roots=(media_root,),
            store_config=light_config,
            ingest_options={"config": OCR_ONLY},
            agent="default",
        )
    )
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

    paths = [
        "/v1/segments/9223372036854775808",
        "/v1/frames/9223372036854775808.jpg",
        f"/v1/segments/{1 << 70}",
        "/v1/segments/-1",
        "/v1/frames/-5.jpg",
        "/v1/segments/abc",
        "/v1/frames/1e3.jpg",
        "/v1/segments/1.5",
    ]
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

    cases = [
        (LLMError("LLM endpoint answered 503"), 502, "llm"),
        (ForbiddenPathError("outside"), 403, "forbidden_path"),
        (RuntimeError("secret internals /srv/x.py"), 500, "internal"),
        (OverflowError("Python int too large to convert to SQLite INTEGER"), 500, "internal"),
    ]
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
    """Every class of the error tree comes back as itself from its ``{code, message}`` form."""
    from memindex import errors
    from memindex.errors import MemIndexError, error_from_dict
    from memindex.llm import LLMError
    from memindex.server.security import ForbiddenPathError

    assert isinstance(error_from_dict({"code": "llm", "message": "down"}), LLMError)
    assert isinstance(error_from_dict({"code": "forbidden_path", "message": "no"}), ForbiddenPathError)
    tree = [c for c in (getattr(errors, n) for n in errors.__all__) if isinstance(c, type)]
    for cls in tree:
        if cls is errors.MissingDependencyError:  # rebuilt as its root: its constructor needs the parts
            continue
        back = error_from_dict({"code": cls.code, "message": "m"})
        assert type(back) is cls and back.message == "m" and isinstance(back, MemIndexError)


def test_non_finite_times_and_bad_n_are_400(client, video_id) -> None:
    base = f"/v1/videos/{video_id}"
    gets = [
        (f"{base}/transcript", {"start": "nan"}),
        (f"{base}/screen_text", {"end": "inf"}),
        (f"{base}/frames", {"start": "-inf"}),
        (f"{base}/browse", {"end": "NaN"}),
        (f"{base}/transcript", {"start": 0, "end": "Infinity"}),
        (f"{base}/frames", {"n": 0}),
        (f"{base}/frames", {"n": -3}),
    ]
    for path, params in gets:
        resp = client.get(path, params=params)
        assert resp.status_code == 400 and resp.json()["code"] == "bad_query", (path, params, resp.text)
    for literal in ("NaN", "Infinity", "-Infinity"):
        for key in ("start", "end"):
            body = f'{{"query": "alpha", "{key}": {literal}}}'.encode()
            resp = client.post("/v1/search", content=body, headers={"content-type": "application/json"})
            assert resp.status_code == 400 and resp.json()["code"] == "bad_query", (key, literal, resp.text)
    assert client.get(f"{base}/transcript", params={"start": 0, "end": 2.5}).status_code == 200


def test_published_limits_are_the_enforced_ones(tmp_path, media_root, light_config) -> None:
    """The limits in /openapi.json (x-limits and each parameter's bounds) follow the server's configuration,
    and the routes enforce exactly those: the bound passes, one past it is refused."""
    from fastapi.testclient import TestClient

    from memindex.server.http import create_app
    from memindex.server.service import Limits
    from tests.server.conftest import make_service

    limits = Limits(max_k=7, max_frames=3, max_body_bytes=4096, max_query_chars=50, max_ask_steps=2, max_browse=5)
    svc = make_service(tmp_path / "store", [media_root], light_config, limits=limits)
    try:
        with TestClient(create_app(svc, mcp=False), base_url="http://127.0.0.1") as c:
            spec = c.get("/openapi.json").json()
            assert spec["info"]["x-limits"] == {
                "max_k": 7,
                "max_query_chars": 50,
                "max_frames": 3,
                "max_ask_steps": 2,
                "max_browse": 5,
                "max_body_bytes": 4096,
            }
            schemas = spec["components"]["schemas"]
            assert schemas["SearchBody"]["properties"]["k"]["maximum"] == 7
            assert schemas["SearchBody"]["properties"]["query"]["maxLength"] == 50
            frames = next(p for p in _operations(spec)["frames"]["parameters"] if p["name"] == "n")
            assert frames["schema"]["maximum"] == 3
            assert c.post("/v1/search", json={"query": "a", "k": 7}).status_code == 200
            assert c.post("/v1/search", json={"query": "a", "k": 8}).json()["code"] == "bad_query"
            assert c.post("/v1/search", json={"query": "a" * 50}).status_code == 200
            assert c.post("/v1/search", json={"query": "a" * 51}).status_code == 400
            assert c.post("/v1/ask", json={"question": "a", "max_steps": 3}).status_code == 400
            assert c.get("/v1/videos/nope/frames", params={"n": 3}).status_code == 404  # passes the bound
            assert c.get("/v1/videos/nope/frames", params={"n": 4}).status_code == 400
            assert c.get("/v1/videos/nope/browse", params={"limit": 6}).status_code == 400
            body, json_type = '{"query": "a"}', {"content-type": "application/json"}
            padding = " " * (4096 - len(body))
            assert c.post("/v1/search", content=body + padding, headers=json_type).status_code == 200
            big = c.post("/v1/search", content=body + padding + " ", headers=json_type)
            assert big.status_code == 413 and big.json()["code"] == "too_large"
    finally:
        svc.close()


def test_validation_errors_are_code_and_message(client) -> None:
    cases = [
        ("POST", "/v1/search", {"json": {"query": "x", "k": "many"}}, "k"),
        ("POST", "/v1/search", {"json": {"query": "x", "tiers": ["nope"]}}, "tiers"),
        ("POST", "/v1/search", {"json": {"query": "x", "extra": 1}}, "extra"),
        ("POST", "/v1/ask", {"json": {"question": "x", "include_trace": "maybe"}}, "include_trace"),
        ("GET", "/v1/videos/x/browse", {"params": {"level": "scene"}}, "level"),
        ("GET", "/v1/videos/x/browse", {"params": {"depth": 9}}, "depth"),
    ]
    for method, path, kw, field in cases:
        resp = client.request(method, path, **kw)
        body = resp.json()
        assert resp.status_code == 400 and body["code"] == "bad_query" and set(body) == {"code", "message"}, body
        assert body["message"].startswith(field), body
    assert client.get("/v1/videos", params={"collection": "../x"}).json()["code"] == "config"


def test_browse_depth_limit_and_ask_trace(client, video_id) -> None:
    base = f"/v1/videos/{video_id}/browse"
    default = client.get(base, params={"level": "video"}).json()
    top = default["segments"][0]
    assert default["total"] == 1 and top["n_children"] == len(top["children"]) >= 1
    assert all(c["children"] == [] for c in top["children"])
    flat = client.get(base, params={"level": "shot", "depth": 0, "limit": 1}).json()
    assert len(flat["segments"]) == 1 and flat["total"] >= 2
    deep = client.get(base, params={"level": "video", "depth": 3}).json()
    assert deep["segments"][0]["children"][0]["children"]
    assert client.post("/v1/ask", json={"question": "where is alpha"}).json()["trace"] == []
    assert client.post("/v1/ask", json={"question": "where is alpha", "include_trace": True}).json()["trace"]

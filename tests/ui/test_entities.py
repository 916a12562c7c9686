"""Entities from the UI: the list and entity pages, and rename, merge and split through ``/ui/api`` (the same
operations as ``memindex entities``), seen afterwards by the CLI."""

from __future__ import annotations

import json

from tests.helpers import run_cli
from tests.ui.conftest import client
from tests.ui.html import find

UI = {"x-memindex-ui": "1"}


def _cli_entities(svc) -> dict[int, dict]:  # type: ignore[no-untyped-def]
    run = run_cli("entities", "list", "--store", str(svc.root), "--json", timeout=120)
    assert run.returncode == 0, run.stderr
    return {e["id"]: e for e in json.loads(run.stdout)["entities"]}


def _speakers(page: str) -> dict[str, int]:
    return {e.attrs["data-name"]: int(e.attrs["data-entity"]) for e in find(page, "tr") if "data-entity" in e.attrs}


def test_entities_page_lists_speakers_and_filters(fresh_service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = fresh_service
    with client(svc) as c:
        page = c.get("/ui/entities").text
        rows = _speakers(page)
        assert {"Speaker A", "Speaker B"} <= set(rows)
        assert f"spk{rows['Speaker A']}" in page
        only = _speakers(c.get("/ui/entities", params={"q": "speaker a"}).text)
        assert set(only) == {"Speaker A"}
        assert c.get("/ui/entities", params={"kind": "planet"}).status_code == 400
        one = c.get(f"/ui/entities/{rows['Speaker A']}").text
        assert len([e for e in find(one, "tr") if "data-mention" in e.attrs]) == 3
        assert c.get("/ui/entities/nobody").status_code == 404


def test_rename_merge_split_through_the_api_are_seen_by_the_cli(fresh_service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = fresh_service
    with client(svc) as c:
        ids = _speakers(c.get("/ui/entities").text)
        a, b = ids["Speaker A"], ids["Speaker B"]
        renamed = c.post(f"/ui/api/entities/{a}/rename", json={"name": "Diane"}, headers=UI)
        assert renamed.status_code == 200 and renamed.json()["name"] == "Diane"
        assert _cli_entities(svc)[a]["name"] == "Diane" and _cli_entities(svc)[a]["user_named"]
        page = c.get(f"/ui/videos/{'ca11000000000001'}").text
        assert "Diane" in {e.content() for e in find(page, "b", cls="spk")}  # the transcript follows
        merged = c.post(f"/ui/api/entities/{a}/merge", json={"sources": [b]}, headers=UI).json()
        assert merged["mentions"] == 5 and b not in _cli_entities(svc)
        mention = [
            int(e.attrs["data-mention"])
            for e in find(c.get(f"/ui/entities/{a}").text, "tr")
            if "data-mention" in e.attrs
        ][0]
        split = c.post(f"/ui/api/entities/{a}/split", json={"mention_ids": [mention], "name": "Sheila"}, headers=UI)
        assert split.status_code == 200 and split.json()["new"]["name"] == "Sheila"
        assert split.json()["from"]["mentions"] == 4
        assert {e["name"] for e in _cli_entities(svc).values()} >= {"Diane", "Sheila"}


def test_entity_writes_are_checked(fresh_service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = fresh_service
    with client(svc) as c:
        a = _speakers(c.get("/ui/entities").text)["Speaker A"]
        no_header = c.post(f"/ui/api/entities/{a}/rename", json={"name": "X"})
        assert no_header.status_code == 403 and no_header.json()["code"] == "forbidden"
        assert c.post(f"/ui/api/entities/{a}/rename", json={"name": ""}, headers=UI).status_code == 422
        assert c.post(f"/ui/api/entities/{a}/rename", json={"name": "X", "extra": 1}, headers=UI).status_code == 422
        assert c.post(f"/ui/api/entities/{a}/rename", json={"name": "!!"}, headers=UI).json()["code"] == "bad_query"
        assert c.post("/ui/api/entities/nobody/rename", json={"name": "X"}, headers=UI).status_code == 404
        assert c.post(f"/ui/api/entities/{a}/merge", json={"sources": []}, headers=UI).status_code == 422
        bad_span = c.post(
            f"/ui/api/entities/{a}/split", content='{"start": NaN}', headers={**UI, "content-type": "application/json"}
        )
        assert bad_span.status_code in (400, 422)
        assert _cli_entities(svc)[a]["name"] == "Speaker A"  # nothing changed

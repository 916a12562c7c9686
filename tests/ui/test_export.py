"""``memindex show VIDEO --html OUT.html``: one self-contained file (CSS, JS, keyframes as data URIs)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli
from tests.ui.html import find, parse


def export(svc, video: str, out: Path) -> str:  # type: ignore[no-untyped-def]
    run = run_cli("show", video, "--store", str(svc.root), "--html", str(out), timeout=300)
    assert run.returncode == 0, run.stderr
    assert str(out) in run.stdout
    return out.read_text(encoding="utf-8")


def test_export_is_self_contained(ui_service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    svc, ids = ui_service
    html = export(svc, "a.mp4", tmp_path / "a.html")
    refs = [v for e in parse(html) for k, v in e.attrs.items() if k in ("src", "href", "action")]
    assert refs and all(v.startswith("data:image/jpeg;base64,") for v in refs), refs[:5]
    assert "<link" not in html and "<script src" not in html and "memindexTimeline" in html
    kfs = find(html, "img", cls="kf")
    assert kfs and len(kfs) == len(svc.reader("default").frames(ids["a.mp4"]))
    lanes = {e.attrs["data-lane"] for e in find(html, "div", cls="lane")}
    assert lanes == {"chapters", "events", "shots", "keyframes", "speech", "screen", "entities"}
    assert find(html, "img", id="still") and not find(html, "video")


def test_export_errors_are_clear(ui_service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    svc, _ = ui_service
    missing = run_cli("show", "nope.mp4", "--store", str(svc.root), "--html", str(tmp_path / "x.html"))
    assert missing.returncode == 2 and "error [not_found]" in missing.stderr and not (tmp_path / "x.html").exists()
    unwritable = run_cli("show", "a.mp4", "--store", str(svc.root), "--html", str(tmp_path / "no" / "x.html"))
    assert unwritable.returncode == 2 and "error [config]" in unwritable.stderr and "x.html" in unwritable.stderr
    remote = run_cli("show", "a.mp4", "--store", "http://127.0.0.1:9", "--html", str(tmp_path / "r.html"))
    assert remote.returncode == 2 and "error [config]" in remote.stderr and "local store" in remote.stderr

"""Fixtures of the web UI tests: a service over a store with a generated video (OCR only) and a synthetic phone
call (two speaker entities), the app, a live server, a headless Chromium, and the screenshot folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from memindex.config import FrameEncoderConfig, StoreConfig, TextEncoderConfig
from memindex.server.service import Service
from memindex.store import Store
from tests.semantic.conftest import fill
from tests.server.conftest import TOKEN, ingest_wait, make_service, media_root  # noqa: F401 (media_root: fixture)

LIGHT = StoreConfig(text=TextEncoderConfig(name="hashing"), frame=FrameEncoderConfig(enabled=False))
CHROMIUM, DRIVER = (
    shutil.which("chromium") or "/usr/bin/chromium",
    shutil.which("chromedriver") or "/usr/bin/chromedriver",
)
_SHOTS: list[Path] = []


@pytest.fixture(scope="session")
def shots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests write their screenshots ($MEMINDEX_UI_SHOTS, else a temp folder); the path is
    printed at the end of the test run."""
    folder = (
        Path(os.environ["MEMINDEX_UI_SHOTS"])
        if os.environ.get("MEMINDEX_UI_SHOTS")
        else tmp_path_factory.mktemp("ui-shots")
    )
    folder.mkdir(parents=True, exist_ok=True)
    _SHOTS.append(folder)
    return folder


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    for folder in _SHOTS:
        pngs = sorted(p.name for p in folder.glob("*.png"))
        if pngs:
            terminalreporter.write_line(f"UI screenshots ({len(pngs)}) in {folder}: {', '.join(pngs)}")


def build_service(root: Path, media: Path) -> tuple[Service, dict[str, str]]:
    """A store with the synthetic call (speakers Speaker A/B) and a.mp4 ingested; {name: video id}."""
    store = Store(root, config=LIGHT)
    call = fill(store)
    store.close()
    svc = make_service(root, [media], LIGHT)
    ingest_wait(svc, media / "a.mp4")
    ids = {Path(v["uri"]).name: v["id"] for v in svc.reader("default").videos()}
    assert call.video_id in ids.values()
    return svc, ids


@pytest.fixture(scope="module")
def ui_service(tmp_path_factory: pytest.TempPathFactory, media_root: Path) -> Iterator[tuple[Service, dict]]:  # noqa: F811
    svc, ids = build_service(tmp_path_factory.mktemp("ui") / "store", media_root)
    yield svc, ids
    svc.close()


@pytest.fixture()
def fresh_service(tmp_path: Path, media_root: Path) -> Iterator[tuple[Service, dict]]:  # noqa: F811
    """Its own store, for tests that edit entities."""
    svc, ids = build_service(tmp_path / "store", media_root)
    yield svc, ids
    svc.close()


def client(svc: Service, **kw):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from memindex.server.http import create_app

    return TestClient(create_app(svc, mcp=False, **kw), base_url="http://127.0.0.1", raise_server_exceptions=False)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's headless Chromium through Selenium (skipped when either is not installed)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (memindex[dev])")
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service as DriverService

    opts = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--mute-audio",
        "--no-first-run",
        "--disable-extensions",
    ):
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    driver = webdriver.Chrome(options=opts, service=DriverService(DRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


__all__ = ["TOKEN", "LIGHT", "client", "build_service"]

"""What the browser tests share: a live server for a service, waits, clicks and screenshots."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.server.live import serving


@contextlib.contextmanager
def live(svc: Any, **kw: Any) -> Iterator[str]:
    from memindex.server.http import create_app

    with serving(create_app(svc, mcp=False, **kw)) as url:
        yield url


def wait(driver: Any, cond: Callable[[], Any], timeout: float = 20.0, what: str = "the page") -> Any:
    """Poll ``cond`` until it returns something truthy (errors count as not yet)."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            value = cond()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 (an element not there yet, a page mid-reload)
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"waited {timeout:.0f} s for {what}; last error: {last!r}; at {driver.current_url}")


def css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def ready(driver: Any, url: str) -> None:
    driver.get(url)
    wait(driver, lambda: driver.execute_script("return document.readyState") == "complete", what=url)


def now(driver: Any) -> float:
    """The second the video page's timeline is at."""
    return float(css(driver, "#now")[0].get_attribute("data-t"))


def shot(driver: Any, folder: Path, name: str, height: int | None = None) -> Path:
    """A screenshot of the page as it is (the window grown to ``height`` first, when given)."""
    if height:
        driver.set_window_size(1280, height)
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)
    return path


def accept_confirm(driver: Any) -> str:
    alert = wait(driver, lambda: driver.switch_to.alert, what="the confirmation")
    text = alert.text
    alert.accept()
    return text

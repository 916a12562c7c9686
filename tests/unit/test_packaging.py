"""Packaging: the wheel holds memindex, ingest, query and the migrations, and works outside the checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_is_listed() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        str(p.parent.relative_to(ROOT)).replace("/", ".")
        for top in ("memindex", "ingest", "query")
        for p in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found | {"memindex.migrations"} == listed


@pytest.mark.slow
def test_wheel_opens_a_store_outside_the_checkout(tmp_path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("memindex-*.whl"))
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    code = (
        "import memindex, memindex.catalog.db as db; assert 'site' in memindex.__file__; "
        "print(db._script_location()); idx = memindex.open('store'); print(idx.stats()['videos'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )
    assert out.returncode == 0, out.stderr
    location, videos = out.stdout.split()
    assert location.startswith(str(target)) and location.endswith("memindex/migrations") and videos == "0"

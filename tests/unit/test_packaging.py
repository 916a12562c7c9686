"""Packaging: one import namespace. The wheel holds memindex with memindex.ingest, memindex.query and
memindex.migrations inside it (nothing generic lands in site-packages), and works outside the checkout, even
from a folder that holds its own ``query.py`` and ``ingest/``."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_is_listed() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        prefix + str(p.parent.relative_to(ROOT)).replace("/", ".")
        for top, prefix in (("memindex", ""), ("ingest", "memindex."), ("query", "memindex."))
        for p in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in p.parts
        and not p.as_posix().startswith((str(ROOT / "memindex/ingest"), str(ROOT / "memindex/query")))
    }
    assert found | {"memindex.migrations"} == listed


def test_the_checkout_links_the_sides_into_the_namespace() -> None:
    """memindex/ingest and memindex/query point at the folders the design card fixes (for tools reading the tree)."""
    for side in ("ingest", "query"):
        link = ROOT / "memindex" / side
        assert link.is_symlink() and link.resolve() == (ROOT / side).resolve()


@pytest.mark.slow
def test_wheel_opens_a_store_outside_the_checkout(tmp_path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("memindex-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        tops = {name.split("/")[0] for name in zf.namelist() if not name.split("/")[0].endswith(".dist-info")}
        names = set(zf.namelist())
        top_level = zf.read(next(n for n in names if n.endswith(".dist-info/top_level.txt"))).decode().split()
    assert tops == {"memindex"} and top_level == ["memindex"], tops
    assert {"memindex/ingest/pipeline.py", "memindex/query/agent.py", "memindex/query/prompts/system.txt"} <= names
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


@pytest.mark.slow
def test_a_users_own_query_py_and_ingest_folder_do_not_shadow_memindex(tmp_path, cut_video) -> None:
    """From a folder holding its own ``query.py`` and ``ingest/``, ``ingest`` and ``ask`` still work."""
    work = tmp_path / "project"
    (work / "ingest").mkdir(parents=True)
    (work / "query.py").write_text("raise SystemExit('the user query.py was imported')\n")
    (work / "ingest" / "__init__.py").write_text("raise SystemExit('the user ingest package was imported')\n")
    code = (
        "import memindex\n"
        "from memindex.config import FrameEncoderConfig, StoreConfig, TextEncoderConfig\n"
        "cfg = StoreConfig(text=TextEncoderConfig(name='hashing'), frame=FrameEncoderConfig(enabled=False))\n"
        "idx = memindex.open('store', config=cfg)\n"
        f"rep = idx.ingest([{str(cut_video[0])!r}])\n"
        "assert rep.ok, rep\n"
        "ans = idx.ask('what does the screen say?', max_steps=2)\n"
        "print(idx.stats()['videos'], '2026' in ans.to_dict()['answer'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "True"], out.stdout  # one video, and the answer reads its screen

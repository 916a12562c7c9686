"""The environment is read once, at the app floor (``memindex/environment.py``, called by ``memindex.cli.main``),
and every variable reaches its destination as an explicit value in a frozen config or parameter; the library
reads none of it, and the keys and tokens those configs carry are never written into the store."""

from __future__ import annotations

import json
import re
import sys
import types
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import memindex
from memindex.catalog.models import Segment, StageRun
from memindex.cli import main
from memindex.config import StoreConfig, TierBackendConfig
from memindex.environment import Environment
from memindex.errors import ConfigError
from memindex.ingest import stages
from memindex.ingest.captioners import CaptionerConfig
from memindex.ingest.config import AsrConfig, IngestConfig, OcrConfig
from memindex.ingest.describe import SummaryConfig
from memindex.ingest.semantic import SemanticConfig
from memindex.llm import LLMConfig
from memindex.store import Store
from tests.fake_openai import FakeOpenAI, completion
from tests.hierarchy.conftest import fill

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-test-0123456789-never-on-disk"
VARIABLES = (
    "MEMINDEX_STORE",
    "MEMINDEX_TOKEN",
    "MEMINDEX_CATALOG_URL",
    "MEMINDEX_MILVUS_TOKEN",
    "MEMINDEX_LLM_BASE_URL",
    "MEMINDEX_LLM_MODEL",
    "MEMINDEX_LLM_API_KEY",
    "OPENAI_API_KEY",
    "MEMINDEX_CAPTION_BASE_URL",
    "MEMINDEX_CAPTION_MODEL",
    "MEMINDEX_CAPTION_API_KEY",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


# -- the one reading ---------------------------------------------------------------------------------------
def test_every_variable_is_read_into_the_environment() -> None:
    env = Environment.read(
        {
            "MEMINDEX_STORE": "/data/s",
            "MEMINDEX_TOKEN": " bearer-0123456789abcdef\n",
            "MEMINDEX_CATALOG_URL": "postgresql://u:pw@db/memindex",
            "MEMINDEX_MILVUS_TOKEN": "root:Milvus",
            "MEMINDEX_LLM_BASE_URL": "http://llm:8000/v1",
            "MEMINDEX_LLM_MODEL": "qwen",
            "OPENAI_API_KEY": KEY,
            "MEMINDEX_CAPTION_MODEL": "vision",
        }
    )
    assert env.store == "/data/s" and env.token == "bearer-0123456789abcdef"
    assert env.catalog_url == "postgresql://u:pw@db/memindex" and env.milvus_token == "root:Milvus"
    assert env.llm == LLMConfig(base_url="http://llm:8000/v1", model="qwen") and env.llm.api_key == KEY
    # the captioner falls back to the LLM's endpoint and key for what MEMINDEX_CAPTION_* leaves unset
    assert (env.caption_base_url, env.caption_model, env.caption_api_key) == ("http://llm:8000/v1", "vision", KEY)
    assert env.store_options() == {"catalog_url": "postgresql://u:pw@db/memindex", "tier_token": "root:Milvus"}
    shown = repr(env)
    assert KEY not in shown and "bearer-0123" not in shown and "pw@" not in shown and "root:Milvus" not in shown
    assert Environment.read({}) == Environment() and Environment().ingest_config() is None


def test_a_half_set_llm_endpoint_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="MEMINDEX_LLM_BASE_URL is set but MEMINDEX_LLM_MODEL is not"):
        Environment.read({"MEMINDEX_LLM_BASE_URL": "http://llm:8000/v1"})


def test_a_half_set_llm_endpoint_at_the_cli_is_an_error_line(monkeypatch, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MEMINDEX_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    assert main(["videos", "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error [config]: MEMINDEX_LLM_BASE_URL is set but MEMINDEX_LLM_MODEL is not"), err
    assert "Traceback" not in err


def test_the_environment_fills_only_what_a_config_leaves_unset() -> None:
    """Endpoints chosen by the environment are part of the config exactly as if given explicitly."""
    env = Environment.read(
        {"MEMINDEX_LLM_BASE_URL": "http://llm/v1", "MEMINDEX_LLM_MODEL": "m", "MEMINDEX_LLM_API_KEY": KEY}
    )
    llm = LLMConfig(base_url="http://llm/v1", model="m", api_key=KEY)
    filled = env.ingest_config()
    explicit = IngestConfig(summary=SummaryConfig(llm=llm), semantic=SemanticConfig(llm=llm))
    assert filled == explicit and stages.options_json(filled) == stages.options_json(explicit)
    assert filled.captioner == CaptionerConfig()  # no captioner: no endpoint saved that nothing calls
    served = env.ingest_config(IngestConfig(captioner=CaptionerConfig(name="openai")))
    assert served is not None and served.captioner == CaptionerConfig(
        name="openai", base_url="http://llm/v1", model="m", api_key=KEY
    )
    assert filled is not None and filled.summary.llm is not None and filled.summary.llm.api_key == KEY
    own = LLMConfig(base_url="http://mine/v1", model="mine")
    mine = IngestConfig(summary=SummaryConfig(llm=own), captioner=CaptionerConfig(name="transformers"))
    kept = env.ingest_config(mine)
    assert kept is not None and kept.summary.llm == own and kept.semantic.llm == llm
    assert kept.captioner == CaptionerConfig(name="transformers")  # its model is a folder, not a served name


# -- the library reads none of it --------------------------------------------------------------------------
_APP_FLOOR = {"memindex/__main__.py", "memindex/cli.py", "memindex/cli_options.py", "memindex/cli_progress.py"}
_APP_FLOOR |= {"memindex/doctor.py", "memindex/environment.py"}
# Left where they are, deliberately (docs/cli.md, "Environment"): file -> the one variable its reads may name.
_ALLOWED = {
    "memindex/faults.py": "MEMINDEX_FAULTS",  # a test-only fault-injection hook
    "memindex/encoders/clip.py": "HF_HUB_OFFLINE",  # mirrors what the model hubs read themselves
    "ingest/asr_models.py": "XDG_CACHE_HOME",  # where downloaded ASR models are cached
    "ingest/executors.py": "PYTHONPATH",  # handed on to worker processes
}
_READS = re.compile(r"\bos\.environ\b|\bgetenv\b|\bfrom\s+os\s+import\s+[^\n]*\benviron\b")


def _library_sources() -> list[Path]:
    files = [p for p in (ROOT / "memindex").rglob("*.py") if p.relative_to(ROOT).parts[1] not in ("ingest", "query")]
    files += [*(ROOT / "ingest").rglob("*.py"), *(ROOT / "query").rglob("*.py")]
    return sorted(
        p
        for p in files
        if p.relative_to(ROOT).as_posix() not in _APP_FLOOR and p.relative_to(ROOT).parts[:2] != ("memindex", "server")
    )


def test_the_library_reads_no_environment() -> None:
    sources = _library_sources()
    assert len(sources) > 80 and ROOT / "memindex" / "store.py" in sources and ROOT / "query" / "agent.py" in sources
    found = []
    for path in sources:
        rel = path.relative_to(ROOT).as_posix()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _READS.search(line) and (rel not in _ALLOWED or _ALLOWED[rel] not in line):
                found.append(f"{rel}:{n}: {line.strip()}")
    assert not found, "the environment is read below the app floor (pass a config instead):\n" + "\n".join(found)


def test_the_agent_refuses_env_and_ignores_the_environment(monkeypatch, tmp_path, light_config) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAI(default=_reply) as server:
        monkeypatch.setenv("MEMINDEX_LLM_BASE_URL", server.url)
        monkeypatch.setenv("MEMINDEX_LLM_MODEL", "agent-test")
        index = memindex.MemoryIndex(fill(Store(tmp_path / "s", config=light_config)).store)
        with pytest.raises(ConfigError, match=r"pass llm=LLMConfig\(base_url=\.\.\., model=\.\.\."):
            index.ask("what about the rabbit?", llm="env")
        index.ask("what about the rabbit?")
        assert server.requests == []  # the deterministic planner: the variables are the CLI's
        index.ask("what about the rabbit?", llm=LLMConfig(base_url=server.url, model="agent-test"))
        assert server.requests and all(r["body"].get("tools") for r in server.requests)
        index.close()


# -- each variable reaches its destination through the CLI -------------------------------------------------
def test_catalog_url_reaches_the_store(monkeypatch, tmp_path, light_config, capsys) -> None:  # type: ignore[no-untyped-def]
    from tests.unit.test_store import _add_video

    shared = tmp_path / "shared" / "catalog.sqlite"
    shared.parent.mkdir()
    url = f"sqlite:///{shared}"
    store = Store(tmp_path / "s", config=light_config, catalog_url=url)
    _add_video(store, "a" * 16, [(1.0, 2.0, "hello from the shared catalog")])
    store.close()
    assert not (tmp_path / "s" / "collections" / "default" / "catalog.sqlite").exists()
    monkeypatch.setenv("MEMINDEX_CATALOG_URL", url)
    assert main(["videos", "--store", str(tmp_path / "s"), "--json"]) == 0
    assert [v["id"] for v in json.loads(capsys.readouterr().out)["videos"]] == ["a" * 16]
    assert main(["doctor", "--store", str(tmp_path / "s"), "--json"]) in (0, 1)
    assert json.loads(capsys.readouterr().out)["store"]["videos"] == 1
    assert not (tmp_path / "s" / "collections" / "default" / "catalog.sqlite").exists()


def test_milvus_token_reaches_the_client(monkeypatch, tmp_path, light_config, capsys) -> None:  # type: ignore[no-untyped-def]
    from memindex.vectors import milvus

    handed: list[dict[str, Any]] = []

    class FakeClient:
        def __init__(self, **kw: Any) -> None:
            handed.append(kw)
            raise RuntimeError("no Milvus server in tests")

    monkeypatch.setitem(sys.modules, "pymilvus", types.SimpleNamespace(MilvusClient=FakeClient))
    monkeypatch.setattr(milvus, "_clients", {})
    from tests.unit.test_store import _add_video

    store = Store(tmp_path / "s", config=light_config)
    _add_video(store, "a" * 16, [(1.0, 2.0, "hello")])
    store.close()
    uri = "http://milvus.invalid:19530"
    saved = tmp_path / "s" / "collections" / "default" / "config.json"
    tiers = replace(light_config, tiers=TierBackendConfig(name="milvus", uri=uri))
    saved.write_text(json.dumps(tiers.to_dict()))  # the tiers move to a Milvus server (rebuilt from the catalog)
    monkeypatch.setenv("MEMINDEX_MILVUS_TOKEN", "root:milvus-secret")
    assert main(["check", "--store", str(tmp_path / "s")]) == 2  # opens every tier
    err = capsys.readouterr().err
    assert err.startswith("error [store]: milvus: no Milvus server in tests") and "Traceback" not in err, err
    assert handed and handed[0] == {"uri": uri, "token": "root:milvus-secret"}
    assert "milvus-secret" not in saved.read_text()


def test_llm_reaches_the_summaries_the_facts_and_ask(monkeypatch, tmp_path, light_config, capsys) -> None:  # type: ignore[no-untyped-def]
    """With MEMINDEX_LLM_* set, the CLI behaves as before: summaries and facts (``auto``) and ``ask`` use the
    LLM; without them, none of it asks the endpoint."""
    narrated = fill(Store(tmp_path / "s", config=light_config))
    narrated.store.close()
    root = str(tmp_path / "s")
    with FakeOpenAI(default=_reply) as server:
        assert main(["rebuild", "--stage", "events", "--store", root]) == 0
        assert main(["ask", "what about the rabbit?", "--store", root, "--json"]) == 0
        assert server.requests == []  # no variables, no LLM
        capsys.readouterr()
        monkeypatch.setenv("MEMINDEX_LLM_BASE_URL", server.url)
        monkeypatch.setenv("MEMINDEX_LLM_MODEL", "env-model")
        monkeypatch.setenv("MEMINDEX_LLM_API_KEY", KEY)
        assert main(["rebuild", "--stage", "events", "--store", root]) == 0
        summaries = len(server.requests)
        assert main(["rebuild", "--stage", "semantic", "--store", root]) == 0
        facts = [r for r in server.requests[summaries:] if "Extract facts" in _text(r["body"])]
        assert main(["ask", "what about the rabbit?", "--store", root, "--json"]) == 0
        asked = [r for r in server.requests if r["body"].get("tools")]
    assert summaries > 0 and facts and asked
    assert all(r["auth"] == f"Bearer {KEY}" and r["body"]["model"] == "env-model" for r in server.requests)
    index = memindex.open(root)
    with index.store.Session() as s:
        video = s.scalar(select(Segment).where(Segment.level == "video"))
        assert video is not None and video.summary == "SUMMARY from the fake"
    assert any(f["relation"] == "lives in" and f["source"] == "llm" for f in index.entity("Rabbit")["facts"])
    index.close()


def test_caption_and_llm_variables_reach_ingest_and_serve(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import memindex.server
    from memindex.api import MemoryIndex

    taken: dict[str, Any] = {}

    def ingest(self: Any, paths: Any, **options: Any) -> Any:
        taken["ingest"] = options
        return types.SimpleNamespace(failed=[], skipped=[], ingested=[], ok=True, stopped=None, to_dict=dict)

    monkeypatch.setattr(MemoryIndex, "ingest", ingest)
    monkeypatch.setattr(memindex.server, "serve", lambda store, **kw: taken.setdefault("serve", kw))
    for name, value in (
        ("MEMINDEX_LLM_BASE_URL", "http://llm/v1"),
        ("MEMINDEX_LLM_MODEL", "text-model"),
        ("MEMINDEX_LLM_API_KEY", KEY),
        ("MEMINDEX_CAPTION_BASE_URL", "http://vlm/v1"),
        ("MEMINDEX_CAPTION_MODEL", "vision-model"),
        ("MEMINDEX_CATALOG_URL", f"sqlite:///{tmp_path / 'catalog.sqlite'}"),
        ("MEMINDEX_MILVUS_TOKEN", "root:milvus-secret"),
    ):
        monkeypatch.setenv(name, value)
    store = str(tmp_path / "s")
    assert main(["ingest", str(tmp_path / "v.mp4"), "--store", store, "--quiet", "--no-ocr"]) == 0
    assert main(["serve", "--store", store, "--no-ocr"]) == 0
    cfg = taken["ingest"]["config"]
    llm = LLMConfig(base_url="http://llm/v1", model="text-model")
    assert not cfg.ocr.enabled and cfg.summary.llm == llm and cfg.semantic.llm == llm
    assert cfg.summary.llm.api_key == KEY
    assert cfg.captioner == CaptionerConfig()  # the CLI names no captioner: nothing to fill
    named = taken["serve"]["environment"].ingest_config(IngestConfig(captioner=CaptionerConfig(name="openai")))
    assert (named.captioner.base_url, named.captioner.model, named.captioner.api_key) == (
        "http://vlm/v1",
        "vision-model",
        KEY,
    )  # a config that names the openai captioner (Python, or the server's) gets the caption endpoint
    served = taken["serve"]
    assert served["ingest_options"]["config"] == cfg and served["environment"].llm == llm
    assert served["environment"].store_options()["tier_token"] == "root:milvus-secret"


def test_serve_hands_the_environment_to_the_service(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What ``serve`` got from the CLI goes into the ``ServiceConfig``: the catalog URL and tier token to each
    store it opens, the LLM to ``ask``; the server reads no environment (not even ``MEMINDEX_TOKEN``)."""
    import memindex.server.service as service_module
    from memindex.server import serve
    from memindex.server.security import load_token

    monkeypatch.setenv("MEMINDEX_TOKEN", "from-the-environment-0123")
    assert load_token() is None and load_token(" given-0123456789abc ") == "given-0123456789abc"
    made: list[Any] = []

    class Stop(Exception):
        """Raised by the stand-in service: the test needs only the config ``serve`` built."""

    def service(config: Any) -> Any:
        made.append(config)
        raise Stop

    monkeypatch.setattr(service_module, "Service", service)
    env = Environment(
        token="bearer-0123456789abcdef",
        catalog_url="sqlite:///c.sqlite",
        milvus_token="t",
        llm=LLMConfig(base_url="http://llm/v1", model="m"),
    )
    with pytest.raises(ConfigError, match="needs a bearer token"):
        serve(tmp_path / "s", host="0.0.0.0", environment=replace(env, token=None))
    with pytest.raises(Stop):  # the environment's token lets it bind off loopback
        serve(tmp_path / "s", host="0.0.0.0", environment=env)
    assert (made[0].catalog_url, made[0].tier_token, made[0].llm) == ("sqlite:///c.sqlite", "t", env.llm)
    assert "sqlite:///c.sqlite" not in repr(made[0])


def test_the_service_asks_with_the_llm_it_was_given(tmp_path, light_config) -> None:  # type: ignore[no-untyped-def]
    from memindex.server.service import Service, ServiceConfig

    fill(Store(tmp_path / "store", config=light_config)).store.close()
    with FakeOpenAI(default=_reply) as server:
        for llm in (None, LLMConfig(base_url=server.url, model="served")):
            svc = Service(ServiceConfig(store=tmp_path / "store", resume=False, llm=llm))
            try:
                svc.ask("default", "what about the rabbit?")
            finally:
                svc.close()
            assert bool(server.requests) == (llm is not None)
    assert all(r["body"]["model"] == "served" and r["body"].get("tools") for r in server.requests)


# -- secrets never land in the store -----------------------------------------------------------------------
def test_keys_and_tokens_are_never_written_into_the_store(tmp_path, cut_video, light_config) -> None:  # type: ignore[no-untyped-def]
    path, _ = cut_video
    token = "milvus-token-0123456789-never-on-disk"
    config = replace(light_config, tiers=replace(light_config.tiers, token=token))
    index = memindex.open(tmp_path / "store", config=config)
    assert index.store.config.tiers.token == token
    with FakeOpenAI(default=_reply) as server:
        llm = LLMConfig(base_url=server.url, model="text-model", api_key=KEY)
        cfg = IngestConfig(
            asr=AsrConfig(enabled=False),
            ocr=OcrConfig(enabled=False),
            captioner=CaptionerConfig(name="openai", base_url=server.url, model="vlm", api_key=KEY),
            summary=SummaryConfig(llm=llm),
            semantic=SemanticConfig(llm=llm, faces=False),
        )
        report = index.ingest([path], config=cfg)
    assert report.ok and report.ingested, report.to_dict()
    assert server.requests and all(r["auth"] == f"Bearer {KEY}" for r in server.requests)
    with index.store.Session() as s:
        saved = s.scalar(select(StageRun.detail).where(StageRun.stage == "pipeline"))
    assert saved is not None and server.url in saved and "text-model" in saved  # the endpoint is config
    index.close()
    written = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert any(p.name == "config.json" for p in written) and any(p.suffix == ".sqlite" for p in written)
    for p in written:
        data = p.read_bytes()
        assert KEY.encode() not in data and token.encode() not in data, f"a secret was written into {p}"
    # the keys change neither the saved options nor the config's identity
    other = replace(cfg, summary=replace(cfg.summary, llm=replace(llm, api_key="sk-another")))
    assert other == cfg and stages.options_json(other) == stages.options_json(cfg) == saved
    assert KEY not in json.dumps(cfg.to_dict()) and KEY not in repr(cfg)
    assert token not in json.dumps(config.to_dict()) and StoreConfig.from_dict(config.to_dict()).tiers.token is None


# -- the fake endpoint -------------------------------------------------------------------------------------
def _text(body: dict[str, Any]) -> str:
    content = body["messages"][0]["content"]
    return content if isinstance(content, str) else json.dumps(content)


def _reply(body: dict[str, Any]) -> dict[str, Any]:
    """The agent gets an answer, the facts prompt a JSON list, anything else (summaries, captions) a text."""
    if body.get("tools"):
        call = {"id": "c1", "type": "function", "function": {"name": "answer", "arguments": '{"answer": "Rabbits."}'}}
        return completion({"role": "assistant", "content": None, "tool_calls": [call]})
    if "Extract facts" in _text(body):
        facts = [{"subject": "Rabbit", "relation": "lives in", "object": "the forest"}]
        return completion({"role": "assistant", "content": json.dumps(facts)})
    return completion({"role": "assistant", "content": "SUMMARY from the fake"})

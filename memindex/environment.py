"""What the environment configures, read once at the app floor and passed down as explicit values.

``memindex.cli.main`` reads ``os.environ`` into an ``Environment`` once per run; the commands and
``memindex serve`` (HTTP, MCP) hand its values to the library inside the frozen configs and parameters it
takes. The library (``memindex.open``, the store, the ingest stages, the agent) reads no environment, so an
index depends on (video, config) alone.

=============================  ===================================================================
variable                       where it goes
=============================  ===================================================================
``MEMINDEX_STORE``             the store when ``--store`` is not given
``MEMINDEX_TOKEN``             a server's bearer token (sent by the CLI; required by ``serve``)
``MEMINDEX_CATALOG_URL``       ``memindex.open(..., catalog_url=)``: a shared catalog (PostgreSQL)
``MEMINDEX_MILVUS_TOKEN``      ``memindex.open(..., tier_token=)``: ``TierBackendConfig.token``
``MEMINDEX_LLM_BASE_URL``,     an ``LLMConfig`` (key: ``_API_KEY``, else ``OPENAI_API_KEY``) for the
``_MODEL``, ``_API_KEY``       summaries (``SummaryConfig.llm``), the facts (``SemanticConfig.llm``)
                               and ``ask`` (the LLM agent)
``MEMINDEX_CAPTION_BASE_URL``, an ``openai`` captioner's unset ``CaptionerConfig`` endpoint fields, each
``_MODEL``, ``_API_KEY``       falling back to its ``MEMINDEX_LLM_*`` (and ``OPENAI_API_KEY``) counterpart
=============================  ===================================================================

Keys and tokens are secret fields of those configs: never shown, compared or saved with the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from memindex.llm import LLMConfig
from memindex.remote import TOKEN_ENV

if TYPE_CHECKING:
    from memindex.ingest.captioners import CaptionerConfig
    from memindex.ingest.config import IngestConfig

__all__ = ["Environment", "STORE_ENV", "TOKEN_ENV"]

STORE_ENV = "MEMINDEX_STORE"


def _get(environ: Mapping[str, str], *names: str) -> str | None:
    """The first of ``names`` set to something other than blanks, stripped; None when none is."""
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


@dataclass(frozen=True)
class Environment:
    """The values the variables above set (None: unset). Secrets are kept out of ``repr``."""

    store: str | None = None
    token: str | None = field(default=None, repr=False)
    catalog_url: str | None = field(default=None, repr=False)  # may carry a database password
    milvus_token: str | None = field(default=None, repr=False)
    llm: LLMConfig | None = None
    caption_base_url: str | None = None
    caption_model: str | None = None
    caption_api_key: str | None = field(default=None, repr=False)

    @classmethod
    def read(cls, environ: Mapping[str, str]) -> Environment:
        """The one place the variables are read; a half-set LLM endpoint is a ``ConfigError``."""
        return cls(
            store=environ.get(STORE_ENV) or None,  # a path: taken as it is
            token=_get(environ, TOKEN_ENV),
            catalog_url=_get(environ, "MEMINDEX_CATALOG_URL"),
            milvus_token=_get(environ, "MEMINDEX_MILVUS_TOKEN"),
            llm=LLMConfig.from_environ(environ),
            caption_base_url=_get(environ, "MEMINDEX_CAPTION_BASE_URL", "MEMINDEX_LLM_BASE_URL"),
            caption_model=_get(environ, "MEMINDEX_CAPTION_MODEL", "MEMINDEX_LLM_MODEL"),
            caption_api_key=_get(environ, "MEMINDEX_CAPTION_API_KEY", "MEMINDEX_LLM_API_KEY", "OPENAI_API_KEY"),
        )

    def store_options(self) -> dict[str, Any]:
        """The ``memindex.open`` options of a store directory that the environment sets."""
        options = {"catalog_url": self.catalog_url, "tier_token": self.milvus_token}
        return {k: v for k, v in options.items() if v is not None}

    def ingest_config(self, cfg: IngestConfig | None = None) -> IngestConfig | None:
        """``cfg`` (None: the defaults) with what the environment sets and ``cfg`` leaves unset: the LLM of
        the summaries and facts, the captioner's endpoint. None when ``cfg`` is None and nothing is set, so
        the library's own default applies."""
        caption = (self.caption_base_url, self.caption_model, self.caption_api_key)
        if cfg is None:
            if self.llm is None and not any(caption):
                return None
            from memindex.ingest.config import IngestConfig

            cfg = IngestConfig()
        summary, semantic = cfg.summary, cfg.semantic
        if self.llm is not None:
            summary = summary if summary.llm is not None else replace(summary, llm=self.llm)
            semantic = semantic if semantic.llm is not None else replace(semantic, llm=self.llm)
        return replace(cfg, summary=summary, semantic=semantic, captioner=self._captioner(cfg.captioner))

    def _captioner(self, cfg: CaptionerConfig) -> CaptionerConfig:
        """An ``openai`` captioner's unset endpoint fields filled in; any other captioner is left as it is (its
        saved options would otherwise carry an endpoint it never calls)."""
        if cfg.name != "openai":
            return cfg
        return replace(
            cfg,
            base_url=cfg.base_url or self.caption_base_url,
            model=cfg.model or self.caption_model,
            api_key=cfg.api_key or self.caption_api_key,
        )

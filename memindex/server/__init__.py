"""``memindex serve``: one process owns a store and serves it over HTTP (FastAPI) and MCP.

service.py   the one layer both protocols call (collections, limits, path checks, the single writer)
http.py      the FastAPI app (``/v1/...``, OpenAPI), with MCP's streamable HTTP mounted at ``/mcp``
mcp.py       the MCP tools
client.py    ``RemoteIndex``: ``memindex.open("http://host:port")``
security.py  bearer tokens, Host/Origin checks (DNS rebinding), allowed ingest roots, request size limits
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memindex.environment import Environment

__all__ = ["serve"]

log = logging.getLogger(__name__)


def serve(
    store: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    allow: Sequence[str | Path] = (),
    token: str | None = None,
    token_file: str | Path | None = None,
    mcp_stdio: bool = False,
    ingest_options: dict[str, Any] | None = None,
    allowed_hosts: Sequence[str] = (),
    allowed_origins: Sequence[str] = (),
    environment: Environment | None = None,
) -> None:
    """Run the server until interrupted (blocking). Refuses a non-loopback bind without a token.

    ``allowed_hosts`` (Host header values, ``name`` or ``name:port``) and ``allowed_origins`` are answered
    besides the loopback names of a loopback bind (see ``HostOriginMiddleware``). ``environment``: what the
    CLI read from the environment (the bearer token, the catalog URL, the tier token, the agent's LLM); the
    server reads none. ``ingest_options`` already hold what it sets for ingest (``Environment.ingest_config``).
    """
    from memindex.environment import Environment
    from memindex.server.security import load_token, require_token_for
    from memindex.server.service import Service, ServiceConfig

    env = environment or Environment()
    secret = load_token(token or (None if token_file else env.token), token_file)  # a token file wins
    if not mcp_stdio:
        require_token_for(host, secret)
    service = Service(
        ServiceConfig(
            store=Path(store),
            allowed_roots=tuple(Path(a) for a in allow),
            ingest_options=dict(ingest_options or {}),
            catalog_url=env.catalog_url,
            tier_token=env.milvus_token,
            llm=env.llm,
        )
    )
    try:
        if mcp_stdio:
            from memindex.server.mcp import build_mcp

            build_mcp(service).run("stdio")
            return
        import uvicorn

        from memindex.server.http import create_app

        app = create_app(
            service, token=secret, host=host, port=port, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins
        )
        log.info("memindex serving %s on http://%s:%d (MCP at /mcp)", service.root, host, port)
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    finally:
        service.close()

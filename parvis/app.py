"""The composition root: ``create_app(settings)`` wires the kernel and the domains together.

Only this package imports the domains (architecture.md, dependency rule). Each domain
contributes routers, templates, problem mappings, CLI commands and background work through
its :class:`~parvis.kernel.context.DomainPlugin`, listed in :mod:`parvis.domains`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.responses import HTMLResponse
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from parvis import (
    locale_fr,  # noqa: F401 - registers the French catalogue
    migrate,
)
from parvis.domains import plugins
from parvis.kernel.clock import Clock
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.db import Database
from parvis.kernel.settings import Settings, load_settings
from parvis.kernel.web import get_ctx, make_templates, render
from parvis.middleware import (
    BodyLimitMiddleware,
    NoStoreMiddleware,
    ObservabilityMiddleware,
    security_headers,
)
from parvis.problems import PROBLEM_TABLE, install_problem_handlers, problem

__all__ = ["create_app", "create_app_from_env"]

log = logging.getLogger("parvis.app")

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    database: Database | None = None,
    check_schema: bool = True,
) -> FastAPI:
    """Build the ASGI application for ``settings``.

    ``clock`` and ``database`` can be injected (tests); ``check_schema`` makes start-up fail
    with the command to run when the database is behind the code.
    """
    ctx = build_context(settings, clock=clock, database=database)
    domains = plugins()
    ctx.templates = make_templates([p.template_dir for p in domains if p.template_dir])
    for plugin in domains:
        if plugin.setup is not None:
            plugin.setup(ctx)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        started = []
        try:
            if check_schema:
                migrate.require_head(settings.database_url, engine=ctx.db.engine)
            for plugin in domains:
                if plugin.start is not None:
                    plugin.start(ctx)
                    started.append(plugin)
            yield
        finally:
            for plugin in reversed(started):
                if plugin.stop is not None:
                    plugin.stop(ctx)
            ctx.db.dispose()

    app = FastAPI(
        title="Parvis",
        version="0.1.0",
        summary="Identity, consent and secure voting for French local authorities",
        lifespan=lifespan,
        # The interactive docs pages need inline scripts that the strict CSP forbids;
        # the machine-readable OpenAPI document stays published.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx
    registry = CollectorRegistry()
    for plugin in domains:
        if plugin.metrics is not None:
            registry.register(plugin.metrics(ctx))
    install_problem_handlers(app, [entry for p in domains for entry in p.problems] + PROBLEM_TABLE)
    for plugin in domains:
        for router in plugin.hot_routers:
            app.include_router(router)
    _operational_routes(app, registry)
    _pages(app)
    for plugin in domains:
        for router in plugin.routers:
            app.include_router(router)
        if plugin.static_dir is not None:
            app.mount(f"/static/{plugin.name}", StaticFiles(directory=plugin.static_dir))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    headers = security_headers(settings)
    # Order: the body limit runs inside observability so that a 413 is logged and counted.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, extra_headers=[])
    app.add_middleware(NoStoreMiddleware)
    app.add_middleware(ObservabilityMiddleware, headers=headers, registry=registry)
    if settings.trusted_proxy_list:
        # Outermost: every later layer sees the citizen's address (the rate limits key on
        # it), taken from X-Forwarded-For only when the peer is a trusted proxy; uvicorn's
        # middleware walks the header from the right and stops at the first untrusted hop.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list)
    return app


def _operational_routes(app: FastAPI, registry: CollectorRegistry) -> None:
    @app.get("/healthz", tags=["operations"], response_class=PlainTextResponse)
    def healthz() -> str:
        """The process is up (no dependency is checked)."""
        return "ok"

    @app.get("/readyz", tags=["operations"], response_model=None)
    def readyz(ctx: Annotated[AppContext, Depends(get_ctx)]) -> Response | dict[str, Any]:
        """The database answers and its schema is at head; 503 otherwise."""
        try:
            status = migrate.schema_status(ctx.settings.database_url, engine=ctx.db.engine)
        except Exception as exc:
            log.warning("readiness: database unreachable", extra={"exc_type": type(exc).__name__})
            return problem(503, detail="database unreachable")
        if not status.at_head:
            return problem(503, detail=status.describe() + "; run `parvis db upgrade`")
        return {"status": "ready", "schema": list(status.current)}

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    def metrics() -> Response:
        """Prometheus text exposition format (per worker process)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


#: The favicon changes with a release at most: a day in every cache (RFC 9111 §5.2.2.1),
#: so a page load does not ask for it again.
FAVICON_CACHE = "public, max-age=86400"


def _pages(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        return render(request, "home.html")

    @app.get("/favicon.svg", include_in_schema=False)
    def favicon() -> FileResponse:
        """The site icon the base layout links to (static files get no cache header)."""
        return FileResponse(
            STATIC_DIR / "favicon.svg",
            media_type="image/svg+xml",
            headers={"Cache-Control": FAVICON_CACHE},
        )


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (several workers import it by name)."""
    from parvis.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)

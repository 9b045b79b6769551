"""The per-process context and the plug-in record through which domains join the app.

The composition root builds one :class:`AppContext` per process (web server or CLI command)
and gives it to each domain's ``setup`` so the domain can register its services in
``ctx.extensions``. A domain that needs another domain's service calls that domain's public
accessor (e.g. ``audit.service_from(ctx)``), which sets it up on first use — so a CLI command
of ``consent`` works without a web server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from parvis.kernel.clock import Clock, SystemClock
from parvis.kernel.db import Database
from parvis.kernel.errors import DomainError
from parvis.kernel.keys import derive_key
from parvis.kernel.sessions import SEAL_KEY_PURPOSE, SessionStore
from parvis.kernel.settings import Settings

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter
    from jinja2 import Environment

__all__ = ["AppContext", "DomainPlugin", "build_context"]

T = TypeVar("T")


@dataclass
class AppContext:
    """Everything a request handler, a CLI command or a background job needs."""

    settings: Settings
    db: Database
    clock: Clock
    sessions: SessionStore
    templates: Environment | None = None
    extensions: dict[str, Any] = field(default_factory=dict)

    def extension(self, name: str, factory: Callable[[AppContext], T]) -> T:
        """The service registered under ``name``, created with ``factory`` on first use."""
        if name not in self.extensions:
            self.extensions[name] = factory(self)
        value: T = self.extensions[name]
        return value


def build_context(
    settings: Settings, *, clock: Clock | None = None, database: Database | None = None
) -> AppContext:
    """A context with the database, clock and session store for ``settings``."""
    clock = clock or SystemClock()
    return AppContext(
        settings=settings,
        db=database or Database.from_settings(settings),
        clock=clock,
        sessions=SessionStore(
            clock=clock,
            idle_seconds=settings.session_idle_seconds,
            absolute_seconds=settings.session_absolute_seconds,
            seal_key=derive_key(settings.sealing_secret, SEAL_KEY_PURPOSE),
        ),
    )


@dataclass(frozen=True)
class DomainPlugin:
    """What a domain contributes to the composition root.

    - ``setup``: register services in ``ctx.extensions`` (idempotent);
    - ``routers``: FastAPI routers (JSON APIs through ``parvis.kernel.web.api_router``; pages);
    - ``hot_routers``: routers matched before every other route of the application (Starlette
      tries routes in order, so a request on a hot path, such as casting a ballot, would
      otherwise be compared with every route declared before it). Their paths must not
      overlap any other domain's;
    - ``template_dir`` / ``static_dir``: Jinja2 templates, static files (served at
      ``/static/<name>/``);
    - ``cli_groups``: sub-command groups (``parvis <group> …``); ``cli_commands``: root
      commands (``parvis <command>``);
    - ``problems``: (exception class, HTTP status, problem slug), most specific first;
    - ``seed_demo``: adds demo data, yields one line per step (idempotent);
    - ``start`` / ``stop``: background work of a web process (e.g. the log sequencer);
    - ``metrics``: makes a Prometheus collector for ``/metrics`` (read when scraped).
    """

    name: str
    setup: Callable[[AppContext], None] | None = None
    routers: Sequence[APIRouter] = ()
    hot_routers: Sequence[APIRouter] = ()
    template_dir: Path | None = None
    static_dir: Path | None = None
    cli_groups: Mapping[str, typer.Typer] = field(default_factory=dict)
    cli_commands: Sequence[Callable[..., Any]] = ()
    problems: Sequence[tuple[type[DomainError], int, str]] = ()
    seed_demo: Callable[[AppContext], Iterable[str]] | None = None
    start: Callable[[AppContext], None] | None = None
    stop: Callable[[AppContext], None] | None = None
    #: ``/metrics`` collectors read at scrape time (a ``prometheus_client`` ``Collector``;
    #: typed loosely so the kernel does not import the client library). docs/operations.md.
    metrics: Callable[[AppContext], Any] | None = None

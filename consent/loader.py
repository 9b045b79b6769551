"""Load the register from a staff-maintained file (YAML or JSON).

The document lists controllers, each with its purposes and the notice texts to publish::

    controllers:
      - id: ville-exemple
        name: Commune d'Exemple
        representative: {name: Mme la Maire}
        dpo: {name: …, email: …}
        purposes: [ {id: newsletter, legal_basis: consent, …}, … ]
        notices: [ {language: fr, text: "…"}, {language: en, text: "…"} ]

Everything is validated before anything is written, and the whole file loads in one
transaction: a bad entry leaves the register as it was. Loading the same file twice changes
nothing (no new versions, no new notices).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from consent.catalogue import Controller, Purpose, parse_purposes
from consent.errors import CatalogueError
from parvis.kernel.context import AppContext

__all__ = ["LoadReport", "load_document", "parse_document"]


@dataclass
class LoadReport:
    controllers: list[str] = field(default_factory=list)
    purposes: dict[str, int] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"controller {c}" for c in self.controllers]
        out += [f"purpose {p} (version {v})" for p, v in sorted(self.purposes.items())]
        out += [f"notice {n}" for n in self.notices]
        return out


@dataclass(frozen=True)
class _Entry:
    controller: Controller
    purposes: list[Purpose]
    notices: list[tuple[str, str]]


def parse_document(document: object) -> list[_Entry]:
    """Validate the whole document (no database access)."""
    if not isinstance(document, Mapping) or not isinstance(document.get("controllers"), list):
        raise CatalogueError("the register file needs a `controllers` list")
    entries = []
    seen: set[str] = set()
    for raw in document["controllers"]:
        if not isinstance(raw, Mapping):
            raise CatalogueError("each controller is an object")
        data = {k: v for k, v in raw.items() if k not in {"purposes", "notices"}}
        controller = Controller.from_dict(data)
        if controller.id in seen:
            raise CatalogueError(f"controller {controller.id} appears twice")
        seen.add(controller.id)
        purposes = parse_purposes(raw.get("purposes") or [], controller_id=controller.id)
        notices = []
        for notice in raw.get("notices") or []:
            if not isinstance(notice, Mapping) or notice.get("language") not in {"fr", "en"}:
                raise CatalogueError(f"controller {controller.id}: notices need language fr or en")
            notices.append((str(notice["language"]), str(notice.get("text", ""))))
        entries.append(_Entry(controller, purposes, notices))
    return entries


def load_document(
    ctx: AppContext, session: Session, document: Mapping[str, Any], *, actor: str
) -> LoadReport:
    """Create or update every controller and purpose, then publish the notices."""
    from consent import service_from

    service = service_from(ctx)
    report = LoadReport()
    for entry in parse_document(document):
        service.save_controller(session, entry.controller, actor=actor)
        report.controllers.append(entry.controller.id)
        for purpose in entry.purposes:
            record = service.save_purpose(session, purpose, actor=actor, reason="register file")
            report.purposes[purpose.id] = record.version
        for language, text in entry.notices:
            notice = service.publish_notice(
                session,
                controller_id=entry.controller.id,
                language=language,
                text=text,
                actor=actor,
            )
            report.notices.append(f"{entry.controller.id}/{language} v{notice.version}")
    return report

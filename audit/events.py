"""What goes into a log: log names and origins, typed audit-event leaves, detail commitments.

Specifications:

* audit-log.md, "Content: nothing personal that cannot be erased": an entry holds the event
  type, a coarse time, the actor pseudonym or role, the subject pseudonym, the purpose id and
  a **salted hash of the details**; the details and the salt live in an erasable table.
* C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint), "Note text": "The origin line
  SHOULD be a schema-less URL containing neither Unicode spaces nor plus (U+002B)
  characters" — :func:`origin_for` builds it from ``PARVIS_PUBLIC_URL`` (ADR 0003).
* RFC 8785 (JSON Canonicalization Scheme) for every byte string that is hashed, so that an
  independent verifier re-derives the same leaf from the same event.

An event leaf is the JCS form of::

    {"actor": ..., "details": <base64 HMAC-SHA-256(salt, JCS(details or null))>,
     "purpose": ... | null, "subject": ... | null, "time": "YYYY-MM-DDTHH:MMZ",
     "type": ..., "v": 1}

The time is truncated to the minute (:data:`TIME_GRANULARITY`): fine timestamps could link
an event (say, a voting-right issuance) to something published elsewhere (a ballot). The
salt is 32 random bytes chosen by the service; once the detail row (details and salt) is
erased, the commitment reveals nothing, and the leaf still verifies.

This module is pure: no I/O, no clock (times are passed in), no randomness (salts are passed
in).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import rfc8785

from audit.errors import EventError, LogNameError

__all__ = [
    "LEAF_VERSION",
    "SALT_SIZE",
    "TIME_GRANULARITY",
    "EventLeaf",
    "canonical_details",
    "check_log_name",
    "coarse_time",
    "details_commitment",
    "normalise_details",
    "origin_for",
]

LEAF_VERSION = 1
"""Version member ``v`` of the event leaf; a new leaf layout gets a new number."""

SALT_SIZE = 32
"""Bytes of random salt per event (256 bits: the commitment cannot be brute-forced)."""

TIME_GRANULARITY = timedelta(minutes=1)
"""Event times in leaves (and in the query index) are truncated to this."""

_LOG_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FIELD_LIMITS = {"event_type": 128, "actor": 256, "subject": 256, "purpose": 128}


def check_log_name(name: str) -> str:
    """Return ``name`` if it is a valid log name, else raise :class:`LogNameError`.

    A name is 1-64 characters of ``a-z 0-9 . _ -`` starting with a letter or digit: it is a
    URL path segment (``/logs/<name>/``), part of a key file name and of the origin line, so
    nothing that needs escaping is allowed (and ``..`` cannot start a name).
    """
    if not isinstance(name, str) or not _LOG_NAME.fullmatch(name):
        raise LogNameError(
            "a log name is 1 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a"
            " letter or digit"
        )
    return name


def origin_for(public_url: str, name: str) -> str:
    """The checkpoint origin of log ``name``: ``<host[:port]><path of public_url>/<name>``.

    ``http://127.0.0.1:8000`` gives ``127.0.0.1:8000/audit``; ``https://parvis.example.fr``
    gives ``parvis.example.fr/audit`` (audit-log.md's example). The scheme is dropped as
    tlog-checkpoint recommends; the host is lower-cased; user information is refused (it
    would put a secret into every checkpoint).
    """
    check_log_name(name)
    parts = urlsplit(public_url)
    if parts.username is not None or parts.password is not None:
        raise LogNameError("PARVIS_PUBLIC_URL must not contain user information")
    host = (parts.hostname or "").lower()
    if not host:
        raise LogNameError("PARVIS_PUBLIC_URL has no host to build a log origin from")
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    origin = f"{netloc}{parts.path.rstrip('/')}/{name}"
    if "+" in origin or any(ch.isspace() for ch in origin):
        # The origin is also the key name, which C2SP signed-note forbids to hold these.
        raise LogNameError("the log origin would contain a space or a plus sign")
    return origin


def coarse_time(moment: datetime) -> datetime:
    """``moment`` in UTC, truncated to :data:`TIME_GRANULARITY` (one minute)."""
    if moment.tzinfo is None:
        raise EventError("event times must be timezone-aware")
    moment = moment.astimezone(UTC)
    return moment.replace(second=0, microsecond=0)


def _json_value(value: Any, *, path: str) -> Any:
    """The JSON data model value of ``value`` (RFC 8785 input), converting a few types.

    Datetimes and dates become ISO 8601 text, UUIDs their canonical text, enums their
    value; anything else that is not JSON data is refused rather than stringified, so a
    caller cannot put an object's ``repr`` (which could hold anything) into the log.
    Non-finite floats are left to RFC 8785, which refuses them.
    """
    converted: Any
    if value is None or isinstance(value, bool | str | int | float):
        converted = value
    elif isinstance(value, Enum):
        converted = _json_value(value.value, path=path)
    elif isinstance(value, datetime | date):
        converted = value.isoformat()
    elif isinstance(value, uuid.UUID):
        converted = str(value)
    elif isinstance(value, Mapping):
        converted = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise EventError(f"details{path} has a key that is not a string")
            converted[key] = _json_value(item, path=f"{path}.{key}")
    elif isinstance(value, list | tuple):
        converted = [_json_value(item, path=f"{path}[{i}]") for i, item in enumerate(value)]
    else:
        raise EventError(f"details{path} is a {type(value).__name__}, not JSON data")
    return converted


def normalise_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """``details`` as plain JSON data (see :func:`_json_value` for the conversions)."""
    if not isinstance(details, Mapping):
        raise EventError("details must be a JSON object")
    result: dict[str, Any] = _json_value(details, path="")
    return result


def canonical_details(details: Mapping[str, Any] | None) -> bytes:
    """The RFC 8785 form of ``details`` (JSON ``null`` when there are none)."""
    value = normalise_details(details) if details is not None else None
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError) as exc:
        raise EventError(f"details cannot be canonicalised: {type(exc).__name__}") from None


def details_commitment(*, salt: bytes, canonical: bytes) -> bytes:
    """``HMAC-SHA-256(key = salt, message = canonical details)``: what the leaf holds.

    A keyed hash with a 256-bit random key hides the details completely once the salt is
    erased (no dictionary attack on small detail sets), yet binds the leaf to them while the
    salt exists: anyone given both can recompute it. Every event gets a salt, even one
    without details (``null`` is committed to): this also makes every event leaf unique.
    """
    if len(salt) != SALT_SIZE:
        raise EventError(f"salt is {len(salt)} bytes, want {SALT_SIZE}")
    return hmac.new(salt, canonical, hashlib.sha256).digest()


def _check_field(name: str, value: str | None, *, required: bool) -> None:
    if value is None:
        if required:
            raise EventError(f"{name} is required")
        return
    if not isinstance(value, str) or not value:
        raise EventError(f"{name} must be a non-empty string")
    if len(value) > _FIELD_LIMITS[name]:
        raise EventError(f"{name} is longer than {_FIELD_LIMITS[name]} characters")
    if _CONTROL.search(value):
        raise EventError(f"{name} contains a control character")


@dataclass(frozen=True, slots=True)
class EventLeaf:
    """A typed audit event as committed to by its leaf (audit-log.md, "Content").

    ``time`` must already be coarse (:func:`coarse_time`); ``commitment`` is
    :func:`details_commitment` of the (possibly ``null``) details.
    """

    event_type: str
    actor: str
    subject: str | None
    purpose: str | None
    time: datetime
    commitment: bytes

    def __post_init__(self) -> None:
        _check_field("event_type", self.event_type, required=True)
        _check_field("actor", self.actor, required=True)
        _check_field("subject", self.subject, required=False)
        _check_field("purpose", self.purpose, required=False)
        if coarse_time(self.time) != self.time:
            raise EventError("event time in a leaf must be truncated to the minute, in UTC")
        if not isinstance(self.commitment, bytes) or len(self.commitment) != 32:
            raise EventError("details commitment must be 32 bytes")

    def encode(self) -> bytes:
        """The leaf bytes: RFC 8785 JSON (see the module docstring for the members)."""
        commitment = base64.b64encode(self.commitment).decode("ascii")
        return rfc8785.dumps(
            {
                "actor": self.actor,
                "details": commitment,
                "purpose": self.purpose,
                "subject": self.subject,
                "time": self.time.strftime("%Y-%m-%dT%H:%MZ"),
                "type": self.event_type,
                "v": LEAF_VERSION,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> EventLeaf:
        """Parse leaf bytes made by :meth:`encode`; raise :class:`EventError` otherwise.

        The bytes must be exactly the canonical form (re-encoding gives them back), so one
        event has one leaf.
        """
        try:
            raw = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise EventError("leaf is not JSON") from None
        expected = {"actor", "details", "purpose", "subject", "time", "type", "v"}
        if not isinstance(raw, dict) or set(raw) != expected or raw["v"] != LEAF_VERSION:
            raise EventError("leaf is not a version 1 audit event")
        try:
            time = datetime.strptime(raw["time"], "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
            commitment = base64.b64decode(raw["details"], validate=True)
        except (TypeError, ValueError):
            raise EventError("leaf time or details commitment is malformed") from None
        leaf = cls(
            event_type=raw["type"],
            actor=raw["actor"],
            subject=raw["subject"],
            purpose=raw["purpose"],
            time=time,
            commitment=commitment,
        )
        if leaf.encode() != data:
            raise EventError("leaf is not in canonical form")
        return leaf

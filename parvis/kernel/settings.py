"""Parvis settings, read from ``PARVIS_*`` environment variables and an optional ``.env``.

Every value is validated when the process starts, so a bad configuration fails at once with
one clear sentence per problem instead of a stack trace at the first request
(style.md, "Code"). :func:`load_settings` turns pydantic's validation error into a
:class:`ConfigError` whose message lists each bad variable by its environment name.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from parvis.kernel.errors import DomainError

__all__ = ["ConfigError", "Mode", "Settings", "load_settings"]

#: SQLAlchemy URL schemes Parvis supports (architecture.md, "Storage").
SUPPORTED_DB_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg", "postgresql")

#: The master secret must carry at least 256 bits; 32 bytes hex-encoded is 64 characters,
#: but a passphrase-like value of 32 characters or more is accepted (it goes through HKDF).
MIN_SECRET_LENGTH = 32

#: A fixed, public secret for the local demo and the tests only. Production refuses it.
DEMO_SECRET = "parvis-demo-secret-not-for-production-0000"  # noqa: S105 - public by design


#: The sandbox client of the local demo and the tests (public, refused nowhere but unused in
#: production, where PARVIS_FC_CLIENT_ID and PARVIS_FC_CLIENT_SECRET come from FranceConnect).
DEMO_FC_CLIENT_ID = "parvis-demo"
DEMO_FC_CLIENT_SECRET = "parvis-demo-fc-secret-not-for-production"  # noqa: S105 - public


class Mode(StrEnum):
    """Where the process runs; it decides which shortcuts are allowed."""

    DEMO = "demo"  #: local demo on 127.0.0.1: plain HTTP, demo secret, sandbox seeded
    TEST = "test"  #: the test suite: cheapest argon2 profile, fixed clock where injected
    PRODUCTION = "production"  #: real deployment: every secret explicit, Secure cookies


class ConfigError(DomainError):
    """The configuration cannot be used; the message names each bad variable."""

    title = "Invalid configuration"


class Settings(BaseSettings):
    """Validated configuration. Field names map to ``PARVIS_<NAME>`` variables."""

    model_config = SettingsConfigDict(
        env_prefix="PARVIS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    mode: Mode = Field(default=Mode.DEMO, description="demo, test or production")
    database_url: str = Field(
        default="sqlite:///./var/parvis.sqlite3",
        description="SQLAlchemy URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
    )
    secret_key: str = Field(
        default="",
        description="master secret (≥ 32 characters); keys for pseudonyms, sessions and data "
        "at rest are derived from it with HKDF. Required in production.",
        repr=False,
    )
    secret_key_file: Path | None = Field(
        default=None, description="file holding the master secret (instead of SECRET_KEY)"
    )
    sealing_secret: str = Field(
        default="",
        description="secret whose HKDF keys seal data at rest (election keys, consent data "
        "keys, OIDC signing keys, staff TOTP secrets, session data); defaults to SECRET_KEY. "
        "Set it after `parvis secret rotate` (ADR 0016).",
        repr=False,
    )
    sealing_secret_file: Path | None = Field(
        default=None, description="file holding the sealing secret (instead of SEALING_SECRET)"
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="the URL citizens reach Parvis at"
    )
    data_dir: Path = Field(
        default=Path("var"), description="directory for keys and the SQLite file"
    )
    state_dir: Path | None = Field(
        default=None,
        description="directory of state kept outside the database and outside backups "
        "(the audit engine's remembered checkpoints, docs/adr/0017); default DATA_DIR/state",
    )
    behind_tls: bool = Field(
        default=False, description="served over HTTPS: send HSTS and require Secure cookies"
    )
    hsts_max_age: Annotated[int, Field(ge=0)] = Field(
        default=63072000, description="HSTS max-age in seconds when BEHIND_TLS"
    )
    session_idle_seconds: Annotated[int, Field(gt=0)] = Field(
        default=1800, description="a session ends after this long without a request"
    )
    session_absolute_seconds: Annotated[int, Field(gt=0)] = Field(
        default=43200, description="a session ends this long after sign-in, whatever happens"
    )
    max_body_bytes: Annotated[int, Field(gt=0)] = Field(
        default=1_048_576, description="largest request body accepted (413 above)"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="log level of the JSON logs"
    )
    default_locale: Literal["fr", "en"] = Field(default="fr", description="page language")
    census_max_rejected_percent: Annotated[float, Field(ge=0, le=100)] = Field(
        default=5.0,
        description="share of rejected lines (percent) above which a census import cannot be "
        "activated",
    )
    consent_timezone: str = Field(
        default="Europe/Paris",
        description="IANA time zone of the calendar in which Art. 12(3) request deadlines run",
    )
    consent_evidence_retention: str = Field(
        default="P5Y",
        description="how long consent events are kept after a consent ends (ISO 8601 "
        "duration; proof of consent, Art. 7(1))",
    )
    consent_webhook_poll_seconds: Annotated[float, Field(gt=0, le=60)] = Field(
        default=1.0, description="how often the webhook worker looks for deliveries due"
    )
    consent_webhook_backoff_seconds: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=30.0, description="delay before the first webhook retry (doubles each time)"
    )
    consent_webhook_max_attempts: Annotated[int, Field(ge=1, le=30)] = Field(
        default=12, description="webhook delivery attempts before giving up"
    )
    consent_webhook_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = Field(
        default=5.0, description="seconds before a webhook delivery attempt is abandoned"
    )
    consent_webhook_worker: bool | None = Field(
        default=None,
        description="run the webhook and expiry worker in `parvis serve` (default: on, "
        "except in test mode where it must be asked for)",
    )
    audit_batch_size: Annotated[int, Field(ge=1, le=65536)] = Field(
        default=256, description="most entries the audit log sequencer integrates per checkpoint"
    )
    audit_batch_delay_ms: Annotated[int, Field(ge=1, le=60000)] = Field(
        default=250, description="longest wait (ms) before the sequencer integrates pending entries"
    )
    audit_max_delay_seconds: Annotated[int, Field(ge=1, le=86400)] = Field(
        default=60, description="integration deadline that signed promises give writers (s)"
    )
    audit_sequencer: bool | None = Field(
        default=None,
        description="run the log sequencer in `parvis serve` (default: on, except in test mode "
        "where it must be asked for)",
    )
    audit_secret_keys: str = Field(
        default="",
        repr=False,
        description="log signing keys (Go signer key texts PRIVATE+KEY+<origin>+..., separated "
        "by spaces), used instead of the key files under DATA_DIR/keys",
    )
    audit_verifier_keys: str = Field(
        default="",
        description="verifier keys (<origin>+<key id>+<key>, separated by spaces) that "
        "`parvis audit verify` trusts",
    )
    backup_recipients: str = Field(
        default="",
        description="age X25519 public keys (age1…, separated by spaces) every "
        "`parvis backup create` encrypts to, besides its --recipient options",
    )
    rsa_backend: Literal["auto", "libcrypto", "gmpy2", "python"] = Field(
        default="auto", description="backend of the RSA blind-signature private operation"
    )
    ballot_key_bits: Literal[2048, 3072, 4096] = Field(
        default=2048, description="modulus size of each election's RSA blind-signature key"
    )
    ballot_issuance_seconds: Annotated[float, Field(gt=0, le=86400)] = Field(
        default=3600.0, description="how often the board publishes the count of tokens issued"
    )
    ballot_publisher: bool | None = Field(
        default=None,
        description="run the issuance-count publisher in `parvis serve` (default: on, except "
        "in test mode where it must be asked for)",
    )
    ballot_token_attempts: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=10, description="token requests allowed per citizen per minute (per worker)"
    )
    ballot_signatures_per_second: Annotated[int, Field(ge=1, le=100000)] = Field(
        default=1000, description="blind signatures per second a worker grants at most"
    )
    ballot_issuance_franceconnect: bool | None = Field(
        default=None,
        description="a voting right is issued only on a fresh FranceConnect authentication "
        "bound to its blinded message (ballot-secrecy.md §3; default: on, except in test mode "
        "where the session alone may do, and the register then marks the entry unbound)",
    )
    trusted_proxies: str = Field(
        default="",
        description="reverse proxies (IP addresses or networks, comma-separated) whose "
        "X-Forwarded-For and X-Forwarded-Proto are believed; nobody's by default",
    )
    host: str = Field(default="127.0.0.1", description="address `parvis serve` listens on")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(
        default=8000, description="port `parvis serve` and `parvis demo` listen on"
    )
    workers: Annotated[int, Field(ge=1, le=64)] = Field(
        default=1, description="uvicorn worker processes (PostgreSQL only when > 1)"
    )

    fc_issuer: str = Field(
        default="",
        description="FranceConnect issuer URL, e.g. "
        "https://fcp-low.sbx.dev-franceconnect.fr/api/v2; outside production, empty means "
        "the built-in sandbox at {PUBLIC_URL}/fc-sandbox/api/v2",
    )
    fc_client_id: str = Field(
        default="", description="FranceConnect client id (demo/test default: parvis-demo)"
    )
    fc_client_secret: str = Field(
        default="",
        description="FranceConnect client secret (client_secret_post); demo/test default is public",
        repr=False,
    )
    fc_scopes: str = Field(
        default="openid given_name family_name birthdate birthplace birthcountry",
        description="space-separated FranceConnect scopes (the identity pivot without gender)",
    )
    fc_acr: str = Field(default="eidas1", description="acr_values requested from FranceConnect")
    fc_redirect_uri: str = Field(
        default="", description="callback URL (default {PUBLIC_URL}/auth/franceconnect/callback)"
    )
    fc_post_logout_redirect_uri: str = Field(
        default="",
        description="where FranceConnect returns after /session/end "
        "(default {PUBLIC_URL}/auth/franceconnect/logged-out)",
    )
    fc_http_timeout: Annotated[float, Field(gt=0, le=60)] = Field(
        default=10.0, description="seconds before a call to FranceConnect is abandoned"
    )
    fc_sandbox: bool | None = Field(
        default=None,
        description="serve the FranceConnect sandbox under /fc-sandbox/api/v2 "
        "(default: on outside production; refused in production)",
    )

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in SUPPORTED_DB_SCHEMES:
            raise ValueError(
                f"unknown database URL scheme {scheme or value!r}; use sqlite:///PATH or "
                "postgresql+psycopg://USER@HOST/DB"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or value.endswith("/"):
            raise ValueError("must be an absolute http(s) URL without a trailing slash")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        import ipaddress

        items = [item.strip() for item in value.split(",") if item.strip()]
        for item in items:
            # "*" (trust everyone) would let any client choose its own address.
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network (e.g. 10.0.0.2, 10.0.0.0/24)"
                ) from None
        return ",".join(items)

    @property
    def trusted_proxy_list(self) -> list[str]:
        """The trusted proxies as a list (empty: X-Forwarded-For is never believed)."""
        return [item for item in self.trusted_proxies.split(",") if item]

    @field_validator("consent_timezone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Paris)") from None
        return value

    @field_validator("consent_evidence_retention")
    @classmethod
    def _iso_duration(cls, value: str) -> str:
        import re

        if not re.fullmatch(r"P(?=\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?", value):
            raise ValueError("an ISO 8601 duration of years, months, weeks, days (e.g. P5Y)")
        return value

    @model_validator(mode="after")
    def _secrets_and_files(self) -> Settings:
        if self.secret_key_file is not None:
            try:
                text = self.secret_key_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(
                    f"PARVIS_SECRET_KEY_FILE: cannot read {self.secret_key_file}: "
                    f"{exc.strerror or exc}"
                ) from None
            object.__setattr__(self, "secret_key", text)
        if not self.secret_key:
            if self.mode is Mode.PRODUCTION:
                raise ValueError(
                    "PARVIS_SECRET_KEY (or PARVIS_SECRET_KEY_FILE) is required in production mode"
                )
            object.__setattr__(self, "secret_key", DEMO_SECRET)
        if len(self.secret_key) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"PARVIS_SECRET_KEY: must be at least {MIN_SECRET_LENGTH} characters long"
            )
        if self.mode is Mode.PRODUCTION:
            if self.secret_key == DEMO_SECRET:
                raise ValueError(
                    "PARVIS_SECRET_KEY: the public demo secret is refused in production"
                )
            if self.is_sqlite and self.workers > 1:
                raise ValueError("PARVIS_WORKERS > 1 needs PostgreSQL (SQLite has one writer)")
        self._sealing_secret()
        return self

    def _sealing_secret(self) -> None:
        """ADR 0016: the sealing secret is the master secret until a rotation gives it its own."""
        if self.sealing_secret_file is not None:
            try:
                text = self.sealing_secret_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(
                    f"PARVIS_SEALING_SECRET_FILE: cannot read {self.sealing_secret_file}: "
                    f"{exc.strerror or exc}"
                ) from None
            object.__setattr__(self, "sealing_secret", text)
        if not self.sealing_secret:
            object.__setattr__(self, "sealing_secret", self.secret_key)
        if len(self.sealing_secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"PARVIS_SEALING_SECRET: must be at least {MIN_SECRET_LENGTH} characters long"
            )
        if self.mode is Mode.PRODUCTION and self.sealing_secret == DEMO_SECRET:
            raise ValueError(
                "PARVIS_SEALING_SECRET: the public demo secret is refused in production"
            )

    @model_validator(mode="after")
    def _franceconnect_defaults(self) -> Settings:
        """Outside production the relying party points at the built-in sandbox by default;
        production never serves the sandbox and has no default issuer or client."""
        if self.fc_sandbox is None:
            object.__setattr__(self, "fc_sandbox", self.mode is not Mode.PRODUCTION)
        if self.mode is Mode.PRODUCTION:
            if self.fc_sandbox:
                raise ValueError("PARVIS_FC_SANDBOX: the sandbox is refused in production mode")
        else:
            if not self.fc_issuer:
                object.__setattr__(self, "fc_issuer", f"{self.public_url}/fc-sandbox/api/v2")
            if not self.fc_client_id:
                object.__setattr__(self, "fc_client_id", DEMO_FC_CLIENT_ID)
            if not self.fc_client_secret:
                object.__setattr__(self, "fc_client_secret", DEMO_FC_CLIENT_SECRET)
        if not self.fc_redirect_uri:
            object.__setattr__(
                self, "fc_redirect_uri", f"{self.public_url}/auth/franceconnect/callback"
            )
        if not self.fc_post_logout_redirect_uri:
            object.__setattr__(
                self,
                "fc_post_logout_redirect_uri",
                f"{self.public_url}/auth/franceconnect/logged-out",
            )
        for name in ("fc_issuer", "fc_redirect_uri", "fc_post_logout_redirect_uri"):
            value = getattr(self, name)
            if value and not value.startswith(("http://", "https://")):
                raise ValueError(f"PARVIS_{name.upper()}: must be an absolute http(s) URL")
        if self.fc_issuer.endswith("/"):
            raise ValueError("PARVIS_FC_ISSUER: must not end with a slash")
        if self.mode is Mode.PRODUCTION and self.fc_issuer.startswith("http://"):
            # RFC 9700 §2.6 (TLS for every exchange with the authorization server): over
            # plain HTTP anyone on the path could serve its own discovery, keys and tokens.
            # The local demo's sandbox (http://127.0.0.1) exists outside production only.
            raise ValueError("PARVIS_FC_ISSUER: must be an https URL in production mode")
        if "openid" not in self.fc_scopes.split():
            raise ValueError("PARVIS_FC_SCOPES: must contain openid")
        return self

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry ``Secure`` everywhere except the plain-HTTP local demo and tests."""
        return self.behind_tls or self.mode is Mode.PRODUCTION

    def state_path(self) -> Path:
        """``STATE_DIR``, or ``DATA_DIR/state`` when unset (docs/adr/0017-rollback-detection.md).

        What lives here must survive a restore: a backup never contains it.
        """
        return self.state_dir if self.state_dir is not None else self.data_dir / "state"

    def sqlite_path(self) -> Path | None:
        """The SQLite file path, or None for PostgreSQL or an in-memory database."""
        if not self.is_sqlite:
            return None
        path = self.database_url.split(":///", 1)[1] if ":///" in self.database_url else ""
        if not path or path == ":memory:":
            return None
        return Path(path)


def _env_name(loc: tuple[int | str, ...]) -> str:
    return "PARVIS_" + "_".join(str(part) for part in loc).upper() if loc else "configuration"


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings, raising :class:`ConfigError` with one line per problem.

    ``overrides`` take precedence over the environment (used by the CLI and the tests).
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            where = _env_name(error["loc"])
            # model-level validators already name the variable in their message
            problems.append(message if not error["loc"] else f"{where}: {message}")
        raise ConfigError("; ".join(problems)) from None


def environment_snapshot() -> dict[str, str]:
    """The ``PARVIS_*`` variables present in the environment, secrets masked (for check-config)."""
    return {
        key: ("***" if "SECRET" in key else value)
        for key, value in sorted(os.environ.items())
        if key.startswith("PARVIS_")
    }

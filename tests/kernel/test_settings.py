"""Each bad setting gives one clear start-up error naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from parvis.kernel.settings import DEMO_SECRET, ConfigError, Mode, load_settings


def test_defaults_are_the_embedded_demo() -> None:
    settings = load_settings()
    assert settings.mode is Mode.DEMO
    assert settings.database_url == "sqlite:///./var/parvis.sqlite3"
    assert settings.is_sqlite
    assert not settings.secure_cookies
    assert settings.secret_key == DEMO_SECRET


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"database_url": "mysql://db/parvis"},
            "PARVIS_DATABASE_URL: unknown database URL scheme 'mysql'",
        ),
        ({"database_url": "parvis.sqlite3"}, "PARVIS_DATABASE_URL: unknown database URL scheme"),
        (
            {"mode": "production"},
            "PARVIS_SECRET_KEY (or PARVIS_SECRET_KEY_FILE) is required in production",
        ),
        ({"mode": "production", "secret_key": DEMO_SECRET}, "public demo secret is refused"),
        ({"secret_key": "short"}, "PARVIS_SECRET_KEY: must be at least 32 characters"),
        (
            {"secret_key_file": "/nonexistent/parvis.key"},
            "PARVIS_SECRET_KEY_FILE: cannot read /nonexistent/parvis.key",
        ),
        ({"sealing_secret": "short"}, "PARVIS_SEALING_SECRET: must be at least 32 characters"),
        (
            {"mode": "production", "secret_key": "x" * 40, "sealing_secret": DEMO_SECRET},
            "PARVIS_SEALING_SECRET: the public demo secret is refused",
        ),
        (
            {"sealing_secret_file": "/nonexistent/sealing.key"},
            "PARVIS_SEALING_SECRET_FILE: cannot read /nonexistent/sealing.key",
        ),
        ({"port": 0}, "PARVIS_PORT:"),
        ({"mode": "staging"}, "PARVIS_MODE:"),
        ({"public_url": "parvis.example.fr"}, "PARVIS_PUBLIC_URL: must be an absolute http(s) URL"),
        ({"max_body_bytes": -1}, "PARVIS_MAX_BODY_BYTES:"),
        (
            {"mode": "production", "secret_key": "x" * 40, "workers": 4},
            "PARVIS_WORKERS > 1 needs PostgreSQL",
        ),
    ],
)
def test_bad_setting_gives_clear_error(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unreadable_key_file_is_reported(tmp_path: Path) -> None:
    key = tmp_path / "secret"
    key.write_text("s" * 40)
    key.chmod(0)
    directory = tmp_path / "dir"
    directory.mkdir()
    with pytest.raises(ConfigError, match="PARVIS_SECRET_KEY_FILE: cannot read"):
        load_settings(secret_key_file=directory)


def test_secret_file_is_read_and_never_shown(tmp_path: Path) -> None:
    key = tmp_path / "secret"
    key.write_text("k" * 48 + "\n")
    settings = load_settings(secret_key_file=key, mode="production")
    assert settings.secret_key == "k" * 48
    assert "k" * 48 not in repr(settings)
    assert settings.secure_cookies


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARVIS_PORT", "8123")
    monkeypatch.setenv("PARVIS_DEFAULT_LOCALE", "en")
    settings = load_settings()
    assert settings.port == 8123
    assert settings.default_locale == "en"


def test_the_sealing_secret_is_the_master_secret_until_set_apart(tmp_path: Path) -> None:
    """ADR 0016: existing deployments open what they sealed without a new setting."""
    assert load_settings(secret_key="m" * 40).sealing_secret == "m" * 40
    sealing = tmp_path / "sealing"
    sealing.write_text("s" * 40 + "\n")
    settings = load_settings(secret_key="m" * 40, sealing_secret_file=sealing)
    assert settings.sealing_secret == "s" * 40
    assert settings.secret_key == "m" * 40
    assert "s" * 40 not in repr(settings)

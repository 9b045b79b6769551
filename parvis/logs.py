"""JSON logs that never carry personal data or secrets.

architecture.md, "Web" (JSON logs without personal data): a log line never contains request bodies,
cookies, tokens, query strings or IP addresses. The access log records the route *template*
(``/logs/{name}``), not the concrete path, method, status and duration — nothing else; the token and
cast routes write no access line at all (``parvis.middleware.QUIET_ROUTES``: every record is stamped
here to the millisecond). Uvicorn's own access log (which prints client addresses and full
paths) is switched off by ``parvis serve``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "configure_logging"]

#: LogRecord attributes that are not user-supplied ``extra`` fields.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
#: Never emitted, whoever passes them as ``extra``.
_FORBIDDEN = {
    "color_message",
    "body",
    "cookie",
    "cookies",
    "authorization",
    "token",
    "password",
    "client",
    "ip",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and allowed extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value)
            for key, value in record.__dict__.items()
            if key not in _STANDARD and key.lower() not in _FORBIDDEN
        )
        if record.exc_info and record.exc_info[0] is not None:
            # The exception class only: tracebacks may embed values (and so personal data).
            entry["exc_type"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    """Send every log record, uvicorn's included, through :class:`JsonFormatter` on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """A ``log_config`` for uvicorn that routes everything through :class:`JsonFormatter`."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "parvis.logs.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
        },
    }

"""One-line failures for every ``parvis`` command (style.md, "Code").

Each command, the composition root's and every domain's, fails with ``error: <reason>`` on
one line of standard error and exit status 1 — never a traceback. Domains may not import
the composition root's CLI, so the decorator lives in the kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import NoReturn, ParamSpec, TypeVar

import typer

from parvis.kernel.errors import DomainError

__all__ = ["fail", "one_line_errors"]

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on one line to stderr and exit with ``code``."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(code)


def one_line_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn domain, database and file-system errors into a one-line exit."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return func(*args, **kwargs)
        except DomainError as exc:
            fail(str(exc))
        except SQLAlchemyError as exc:
            # The driver's first line names the problem (connection refused, no such table).
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            fail(f"database error: {reason}")
        except OSError as exc:
            fail(f"{exc.strerror or exc}: {exc.filename or ''}".strip(": "))

    return wrapper

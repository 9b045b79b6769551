"""Errors of the OpenID provider's administration (client registration, keys).

The protocol endpoints never raise these: they answer RFC 6749 / OpenID error objects.
"""

from __future__ import annotations

from identity.errors import IdentityError
from parvis.kernel.errors import InvalidInputError, NotFoundError

__all__ = ["ClientRegistrationError", "OidcError", "UnknownClientError"]


class OidcError(IdentityError):
    """Base of the provider's administration errors."""


class ClientRegistrationError(OidcError, InvalidInputError):
    """Client metadata refused (e.g. a redirect URI with a fragment)."""


class UnknownClientError(OidcError, NotFoundError):
    """No client with this id."""

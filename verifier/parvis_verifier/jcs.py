"""RFC 8785 (JCS) canonical JSON, with a fast path for the values Parvis signs and hashes.

The ``rfc8785`` package is the reference; it is written in pure Python and costs about 70 µs
per ballot entry, more than the RSA and Ed25519 verifications it frames. For JSON made only
of objects with ASCII keys, arrays, strings, booleans, null and integers within ±(2⁵³ − 1),
the standard library's ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` writes exactly the RFC 8785 bytes:

* §3.2.3: members sorted by UTF-16 code units — for ASCII keys that is code-point order;
* §3.2.2.2: strings escape only ``"``, ``\\`` and U+0000–U+001F, the latter with the short
  forms ``\\b \\t \\n \\f \\r`` or ``\\u00xx`` in lowercase hex — exactly what ``json`` does
  with ``ensure_ascii=False``;
* §3.2.2.3: integers in the IEEE-754 exact range print as their decimal digits.

Anything else (floats, non-ASCII keys, large integers) goes to ``rfc8785``; a property test
checks that both paths agree.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

__all__ = ["canonical", "is_simple", "simple_dumps"]

_MAX_EXACT = 2**53 - 1
_dumps = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode

# The C encoder that JSONEncoder.encode builds anew on every call, built once: the board
# verifier encodes every ballot's choices. Same arguments as JSONEncoder.iterencode passes
# (markers=None: no cycle check, parsed JSON has no cycles; a cyclic value ends in
# RecursionError). Absent without the C accelerator, then the encoder above is used.
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_c_encode: Any = (
    _c_make_encoder(
        None,  # markers
        json.JSONEncoder().default,  # raises TypeError for what is not JSON
        json.encoder.encode_basestring,  # ensure_ascii=False
        None,  # indent
        ":",
        ",",
        True,  # sort_keys
        False,  # skipkeys
        False,  # allow_nan
    )
    if _c_make_encoder is not None
    else None
)


def simple_dumps(value: Any) -> str:
    """``json.dumps`` in the form above: the RFC 8785 text of any value for which
    :func:`is_simple` holds (the board verifier calls it on every ballot's choices, and
    :func:`is_simple` only on values it has not seen). Raises ``ValueError`` on NaN and
    infinities, ``TypeError`` on what is not JSON."""
    if _c_encode is None or isinstance(value, str):
        return _dumps(value)
    return "".join(_c_encode(value, 0))


def is_simple(value: Any) -> bool:
    """Whether ``value`` is in the subset where :func:`simple_dumps` writes RFC 8785."""
    return _simple(value)


def _simple(value: Any, depth: int = 0) -> bool:
    if depth > 64:
        return False
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -_MAX_EXACT <= value <= _MAX_EXACT
    if isinstance(value, list):
        return all(_simple(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and k.isascii() and _simple(v, depth + 1) for k, v in value.items()
        )
    return False


def canonical(value: Any) -> bytes:
    """The RFC 8785 canonical bytes of ``value``."""
    if _simple(value):
        return _dumps(value).encode("utf-8")
    return rfc8785.dumps(value)

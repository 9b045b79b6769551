"""Backends for the RSA private-key operation RSASP1 (RFC 8017 §5.2.1) used by RFC 9474.

RFC 9474 "RSA Blind Signatures", §4.3 ``BlindSign`` needs the raw private-key operation
``s = m^d mod n`` on a blinded message. The ``cryptography`` package only signs with
padding, so this module provides the raw operation behind one small interface,
:class:`RSABackend`, and picks the fastest safe implementation present:

========== ===================================================================== =========
name       implementation                                                        side
                                                                                  channels
========== ===================================================================== =========
``libcrypto`` OpenSSL 3 libcrypto through :mod:`ctypes`: ``EVP_PKEY_decrypt`` with  constant
            ``RSA_NO_PADDING`` (CRT, constant-time exponentiation, RSA blinding  time +
            on by default), key loaded once per key object with                  blinding
            ``d2i_AutoPrivateKey`` and one ``EVP_PKEY_CTX`` per thread
``gmpy2``   GMP's ``powmod_sec`` (constant-time exponentiation) with CRT and     exponent
            explicit base blinding                                                c.t. +
                                                                                  blinding
``python``  Python integers, CRT, explicit base blinding and exponent blinding   best
                                                                                  effort
========== ===================================================================== =========

``get_backend("auto")`` (the default) returns the first available one in that order. The
kernel setting ``PARVIS_RSA_BACKEND`` takes exactly these values: ``auto``, ``libcrypto``,
``gmpy2``, ``python``. See ``docs/adr/0002-rsa-blind-signature-backends.md`` for the
measurements behind the choice.

No backend checks its own result: :func:`parvis_verifier.rsabssa.blind_sign` does that for all of
them (RFC 9474 §4.3), so a faulty backend cannot leak a bad CRT result.

Public names: ``RSABackend``, ``OpenSSLBackend``, ``Gmpy2Backend``, ``PythonBackend``,
``BACKEND_NAMES``, ``available_backends``, ``get_backend``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import secrets
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from parvis_verifier.ballot_errors import (
    BackendUnavailableError,
    InvalidLengthError,
    OutOfRangeError,
    UnknownBackendError,
)

__all__ = [
    "BACKEND_NAMES",
    "Gmpy2Backend",
    "OpenSSLBackend",
    "PythonBackend",
    "RSABackend",
    "available_backends",
    "get_backend",
]

#: Every value ``get_backend`` (and ``PARVIS_RSA_BACKEND``) accepts, ``auto`` first.
BACKEND_NAMES: Final = ("auto", "libcrypto", "gmpy2", "python")

# How many distinct private keys keep a loaded native handle. One election has one key;
# a handful of concurrent elections is the realistic maximum. The bound keeps a process
# that signs with many throw-away keys (tests, benchmarks) from growing without limit.
_KEY_CACHE_SIZE: Final = 16


class RSABackend(Protocol):
    """The raw RSA private-key operation, RSASP1 (RFC 8017 §5.2.1), without padding.

    ``private_op(private_key, m)`` takes the representative ``m`` as exactly
    ``modulus_len`` big-endian bytes with ``0 < m < n`` (the caller checks; backends check
    again because it is cheap) and returns ``m^d mod n`` as ``modulus_len`` bytes.
    Implementations must be safe to call from several threads at once.
    """

    @property
    def name(self) -> str:
        """The backend's name, one of :data:`BACKEND_NAMES` (except ``auto``)."""
        ...

    def private_op(self, private_key: rsa.RSAPrivateKey, m: bytes) -> bytes:
        """Return ``m^d mod n`` as ``modulus_len`` bytes."""
        ...


_H = TypeVar("_H")


class _KeyCache(Generic[_H]):
    """A small thread-safe LRU from a private key *object* to derived data.

    ``cryptography``'s key objects support neither weak references nor value equality, so
    entries are keyed by ``id(key)`` and hold a strong reference to the key: the id cannot
    be reused while the entry lives, and the identity check below makes that explicit.
    Eviction only drops references; native handles free themselves when the last thread
    using them lets go (see :class:`_EvpKey`).
    """

    def __init__(self, build: Callable[[rsa.RSAPrivateKey], _H]) -> None:
        self._build = build
        self._entries: OrderedDict[int, tuple[rsa.RSAPrivateKey, _H]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: rsa.RSAPrivateKey) -> _H:
        ident = id(key)
        with self._lock:
            entry = self._entries.get(ident)
            if entry is not None and entry[0] is key:
                self._entries.move_to_end(ident)
                return entry[1]
        # Build outside the lock: loading a key is slow and must not block other keys.
        handle = self._build(key)
        with self._lock:
            self._entries[ident] = (key, handle)
            self._entries.move_to_end(ident)
            while len(self._entries) > _KEY_CACHE_SIZE:
                self._entries.popitem(last=False)
        return handle


def _check_representative(n: int, k: int, m: bytes) -> int:
    """Check the RSASP1 input; the caller (``blind_sign``) has checked it already."""
    if len(m) != k:
        raise InvalidLengthError(
            f"message representative must be {k} bytes, got {len(m)}",
            field="m",
            expected=k,
            actual=len(m),
        )
    value = int.from_bytes(m, "big")
    # RFC 8017 §5.2.1: "If the message representative m is not between 0 and n - 1,
    # output 'message representative out of range'". 0 is refused as well: it is never a
    # blinded PSS encoding and its "signature" is 0 for every key.
    if not 0 < value < n:
        raise OutOfRangeError("message representative out of range", field="m")
    return value


# --------------------------------------------------------------------------------------
# OpenSSL libcrypto through ctypes
# --------------------------------------------------------------------------------------

_RSA_NO_PADDING: Final = 3
_OPENSSL_MIN_VERSION: Final = 0x30000000  # EVP_PKEY_CTX_set_rsa_padding is a function from 3.0


class _LibCrypto:
    """The few libcrypto functions we call, with exact prototypes.

    Every prototype is declared: without ``argtypes`` ctypes passes pointers as C ``int``
    and truncates them on 64-bit machines.
    """

    def __init__(self, lib: ctypes.CDLL) -> None:
        vp = ctypes.c_void_p
        lib.OpenSSL_version_num.argtypes = []
        lib.OpenSSL_version_num.restype = ctypes.c_ulong
        version = int(lib.OpenSSL_version_num())
        if version < _OPENSSL_MIN_VERSION:
            raise OSError(f"libcrypto {version:#x} is older than OpenSSL 3.0")
        self.version = version
        self.d2i_AutoPrivateKey = lib.d2i_AutoPrivateKey
        self.d2i_AutoPrivateKey.argtypes = [vp, ctypes.POINTER(ctypes.c_void_p), ctypes.c_long]
        self.d2i_AutoPrivateKey.restype = vp
        self.EVP_PKEY_free = lib.EVP_PKEY_free
        self.EVP_PKEY_free.argtypes = [vp]
        self.EVP_PKEY_free.restype = None
        self.EVP_PKEY_CTX_new = lib.EVP_PKEY_CTX_new
        self.EVP_PKEY_CTX_new.argtypes = [vp, vp]
        self.EVP_PKEY_CTX_new.restype = vp
        self.EVP_PKEY_CTX_free = lib.EVP_PKEY_CTX_free
        self.EVP_PKEY_CTX_free.argtypes = [vp]
        self.EVP_PKEY_CTX_free.restype = None
        self.EVP_PKEY_decrypt_init = lib.EVP_PKEY_decrypt_init
        self.EVP_PKEY_decrypt_init.argtypes = [vp]
        self.EVP_PKEY_decrypt_init.restype = ctypes.c_int
        self.EVP_PKEY_CTX_set_rsa_padding = lib.EVP_PKEY_CTX_set_rsa_padding
        self.EVP_PKEY_CTX_set_rsa_padding.argtypes = [vp, ctypes.c_int]
        self.EVP_PKEY_CTX_set_rsa_padding.restype = ctypes.c_int
        self.EVP_PKEY_decrypt = lib.EVP_PKEY_decrypt
        self.EVP_PKEY_decrypt.argtypes = [
            vp,
            ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_size_t),
            ctypes.c_char_p,
            ctypes.c_size_t,
        ]
        self.EVP_PKEY_decrypt.restype = ctypes.c_int
        self.ERR_clear_error = lib.ERR_clear_error
        self.ERR_clear_error.argtypes = []
        self.ERR_clear_error.restype = None


_libcrypto_lock = threading.Lock()
_libcrypto: _LibCrypto | None = None
_libcrypto_error: str | None = None


def _load_libcrypto() -> _LibCrypto:
    """Load the system libcrypto once; raise BackendUnavailableError if it is unusable."""
    global _libcrypto, _libcrypto_error  # noqa: PLW0603 - a process-wide, load-once handle
    with _libcrypto_lock:
        if _libcrypto is not None:
            return _libcrypto
        if _libcrypto_error is None:
            candidates = [ctypes.util.find_library("crypto"), "libcrypto.so.3"]
            errors: list[str] = []
            for candidate in candidates:
                if candidate is None:
                    continue
                try:
                    _libcrypto = _LibCrypto(ctypes.CDLL(candidate))
                except (OSError, AttributeError) as exc:
                    errors.append(f"{candidate}: {exc}")
                    continue
                return _libcrypto
            _libcrypto_error = "; ".join(errors) or "libcrypto not found"
        raise BackendUnavailableError(
            f"OpenSSL 3 libcrypto is not usable: {_libcrypto_error}", name="libcrypto"
        )


def _free_evp(lib: _LibCrypto, pkey: int, contexts: list[int]) -> None:
    # Runs once, when the last reference to the _EvpKey handle is gone (no thread can be
    # inside EVP_PKEY_decrypt with it, since a running private_op holds the handle).
    for ctx in contexts:
        lib.EVP_PKEY_CTX_free(ctx)
    contexts.clear()
    lib.EVP_PKEY_free(pkey)


class _EvpKey:
    """A private key loaded into libcrypto, plus one decrypt context per thread.

    An ``EVP_PKEY_CTX`` must not be used by two threads at once, and creating one per
    call costs about 15 % of an RSA-2048 operation, so each thread keeps its own.
    """

    __slots__ = ("__weakref__", "_contexts", "_lib", "_local", "_lock", "modulus_len", "n", "pkey")

    def __init__(self, lib: _LibCrypto, private_key: rsa.RSAPrivateKey) -> None:
        self._lib = lib
        self.n = private_key.public_key().public_numbers().n
        self.modulus_len = (self.n.bit_length() + 7) // 8
        der = private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Copy into a buffer we can wipe; the immutable ``der`` itself is left to the
        # garbage collector (Python offers no way to wipe bytes objects).
        buf = ctypes.create_string_buffer(der, len(der))
        try:
            cursor = ctypes.c_void_p(ctypes.addressof(buf))
            pkey = lib.d2i_AutoPrivateKey(None, ctypes.byref(cursor), len(der))
        finally:
            ctypes.memset(buf, 0, len(der))
        if not pkey:
            lib.ERR_clear_error()
            raise BackendUnavailableError("libcrypto could not load the RSA key", name="libcrypto")
        self.pkey: int = pkey
        self._contexts: list[int] = []
        self._local = threading.local()
        self._lock = threading.Lock()
        finalizer = weakref.finalize(self, _free_evp, lib, pkey, self._contexts)
        # Not at interpreter exit: the process is ending anyway, and freeing OpenSSL
        # objects then would race libcrypto's own exit-time cleanup.
        finalizer.atexit = False

    def context(self) -> int:
        ctx: int | None = getattr(self._local, "ctx", None)
        if ctx is not None:
            return ctx
        lib = self._lib
        new: int | None = lib.EVP_PKEY_CTX_new(self.pkey, None)
        if not new:
            raise BackendUnavailableError("EVP_PKEY_CTX_new failed", name="libcrypto")
        if (
            lib.EVP_PKEY_decrypt_init(new) != 1
            or lib.EVP_PKEY_CTX_set_rsa_padding(new, _RSA_NO_PADDING) != 1
        ):
            lib.EVP_PKEY_CTX_free(new)
            lib.ERR_clear_error()
            raise BackendUnavailableError("EVP_PKEY_decrypt_init failed", name="libcrypto")
        with self._lock:
            self._contexts.append(new)
        self._local.ctx = new
        return new


class OpenSSLBackend:
    """RSASP1 by OpenSSL 3's libcrypto (``EVP_PKEY_decrypt``, ``RSA_NO_PADDING``).

    OpenSSL computes with CRT and constant-time Montgomery exponentiation
    (``BN_FLG_CONSTTIME``) and applies RSA base blinding, which is on by default for
    every key it loads. ctypes releases the GIL during the call, so threads sign in
    parallel.
    """

    name = "libcrypto"

    def __init__(self) -> None:
        self._lib = _load_libcrypto()
        self._keys: _KeyCache[_EvpKey] = _KeyCache(lambda key: _EvpKey(self._lib, key))

    def private_op(self, private_key: rsa.RSAPrivateKey, m: bytes) -> bytes:
        handle = self._keys.get(private_key)
        k = handle.modulus_len
        _check_representative(handle.n, k, m)
        out = ctypes.create_string_buffer(k)
        out_len = ctypes.c_size_t(k)
        rc = self._lib.EVP_PKEY_decrypt(handle.context(), out, ctypes.byref(out_len), m, k)
        if rc != 1 or out_len.value != k:
            self._lib.ERR_clear_error()
            raise OutOfRangeError("libcrypto refused the message representative", field="m")
        return out.raw


# --------------------------------------------------------------------------------------
# Portable fallbacks
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class _CrtKey:
    """The CRT form of a private key (never printed: ``repr=False``)."""

    n: int
    e: int
    p: int
    q: int
    dp: int
    dq: int
    qinv: int
    modulus_len: int


def _crt_key(private_key: rsa.RSAPrivateKey) -> _CrtKey:
    numbers = private_key.private_numbers()
    n = numbers.public_numbers.n
    return _CrtKey(
        n=n,
        e=numbers.public_numbers.e,
        p=numbers.p,
        q=numbers.q,
        dp=numbers.dmp1,
        dq=numbers.dmq1,
        qinv=numbers.iqmp,
        modulus_len=(n.bit_length() + 7) // 8,
    )


def _blinding_pair(
    n: int,
    e: int,
    *,
    powmod: Callable[[int, int, int], int],
    invert: Callable[[int, int], int],
) -> tuple[int, int]:
    """Return ``(r^e mod n, r^-1 mod n)`` for a fresh uniform ``r`` coprime with ``n``."""
    while True:
        r = secrets.randbelow(n - 2) + 2
        # A non-invertible r would reveal a factor of n to us; it is astronomically rare
        # and we simply draw again.
        if math.gcd(r, n) == 1:
            return powmod(r, e, n), invert(r, n)


class Gmpy2Backend:
    """RSASP1 with GMP's constant-time ``powmod_sec``, CRT and explicit base blinding.

    The exponentiations run in constant time; the CRT recombination and blinding use
    ordinary (variable-time) GMP arithmetic on *blinded* values only, which is what
    base blinding is for.
    """

    name = "gmpy2"

    def __init__(self) -> None:
        try:
            import gmpy2
        except ImportError as exc:
            raise BackendUnavailableError("gmpy2 is not installed", name="gmpy2") from exc
        self._gmpy2: Any = gmpy2
        self._keys: _KeyCache[tuple[_CrtKey, tuple[Any, ...]]] = _KeyCache(self._load)

    def _load(self, private_key: rsa.RSAPrivateKey) -> tuple[_CrtKey, tuple[Any, ...]]:
        key = _crt_key(private_key)
        mpz = self._gmpy2.mpz
        return key, (mpz(key.n), mpz(key.p), mpz(key.q), mpz(key.dp), mpz(key.dq), mpz(key.qinv))

    def private_op(self, private_key: rsa.RSAPrivateKey, m: bytes) -> bytes:
        g = self._gmpy2
        key, (n, p, q, dp, dq, qinv) = self._keys.get(private_key)
        c = _check_representative(key.n, key.modulus_len, m)
        blind, unblind = _blinding_pair(
            key.n,
            key.e,
            powmod=lambda b, x, mod: int(g.powmod(b, x, mod)),
            invert=lambda b, mod: int(g.invert(b, mod)),
        )
        cb = g.mpz(c) * blind % n
        s1 = g.powmod_sec(cb % p, dp, p)
        s2 = g.powmod_sec(cb % q, dq, q)
        h = qinv * (s1 - s2) % p
        s = (s2 + h * q) * unblind % n
        return int(s).to_bytes(key.modulus_len, "big")


class PythonBackend:
    """RSASP1 with Python integers: CRT, base blinding and exponent blinding.

    Python's ``pow`` is not constant time (its windowed exponentiation skips zero
    windows). Base blinding hides the input; a fresh 64-bit multiple of ``p - 1`` (resp.
    ``q - 1``) added to each CRT exponent hides the exponent's bit pattern across calls.
    This is a portable last resort: ``auto`` never picks it when another backend exists.
    """

    name = "python"

    def __init__(self) -> None:
        self._keys: _KeyCache[_CrtKey] = _KeyCache(_crt_key)

    def private_op(self, private_key: rsa.RSAPrivateKey, m: bytes) -> bytes:
        key = self._keys.get(private_key)
        c = _check_representative(key.n, key.modulus_len, m)
        blind, unblind = _blinding_pair(
            key.n, key.e, powmod=pow, invert=lambda b, mod: pow(b, -1, mod)
        )
        cb = c * blind % key.n
        dp = key.dp + (secrets.randbits(64) + 1) * (key.p - 1)
        dq = key.dq + (secrets.randbits(64) + 1) * (key.q - 1)
        s1 = pow(cb % key.p, dp, key.p)
        s2 = pow(cb % key.q, dq, key.q)
        h = key.qinv * (s1 - s2) % key.p
        s = (s2 + h * key.q) * unblind % key.n
        return s.to_bytes(key.modulus_len, "big")


# --------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------

_FACTORIES: Final[dict[str, Callable[[], RSABackend]]] = {
    "libcrypto": OpenSSLBackend,
    "gmpy2": Gmpy2Backend,
    "python": PythonBackend,
}
_instances: dict[str, RSABackend] = {}
_instances_lock = threading.Lock()


def _instance(name: str) -> RSABackend:
    with _instances_lock:
        backend = _instances.get(name)
        if backend is None:
            backend = _FACTORIES[name]()
            _instances[name] = backend
        return backend


def available_backends() -> tuple[str, ...]:
    """Names of the backends that can run in this process, in ``auto``'s preference order."""
    names = []
    for name in _FACTORIES:
        try:
            _instance(name)
        except BackendUnavailableError:
            continue
        names.append(name)
    return tuple(names)


def get_backend(name: str = "auto") -> RSABackend:
    """Return the backend called ``name`` (one of :data:`BACKEND_NAMES`).

    ``auto`` returns the first available of ``libcrypto``, ``gmpy2``, ``python``. A named
    backend that cannot run here raises :class:`BackendUnavailableError` rather than
    silently falling back: an operator who forces ``libcrypto`` must learn that it is
    missing. An unknown name raises :class:`UnknownBackendError`.
    """
    if name == "auto":
        for candidate in _FACTORIES:
            try:
                return _instance(candidate)
            except BackendUnavailableError:
                continue
        # PythonBackend has no dependency, so this line is unreachable in practice.
        raise BackendUnavailableError("no RSA backend is available", name="auto")
    if name not in _FACTORIES:
        raise UnknownBackendError(
            f"unknown RSA backend {name!r}; expected one of {', '.join(BACKEND_NAMES)}",
            name=name,
        )
    return _instance(name)

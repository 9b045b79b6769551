"""The private-key backends: selection by name, agreement, thread safety, fault detection."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

import gmpy2
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ballot import rsa_backends, rsabssa
from ballot.errors import (
    BackendUnavailableError,
    InvalidLengthError,
    OutOfRangeError,
    SigningFailureError,
    UnknownBackendError,
)
from ballot.rsa_backends import RSABackend, available_backends, get_backend

from .conftest import CONCRETE_BACKENDS, VECTORS


class FaultyBackend:
    """A real backend that returns a wrong result, like an RSA-CRT computation hit by a
    fault (Boneh-DeMillo-Lipton): correct modulo q, wrong modulo p. Such a value reveals
    ``gcd(s^e - m, n) = q`` to whoever receives it, so it must never leave the signer."""

    name = "faulty"

    def __init__(self) -> None:
        self.calls = 0

    def private_op(self, private_key: rsa.RSAPrivateKey, m: bytes) -> bytes:
        self.calls += 1
        numbers = private_key.private_numbers()
        n = numbers.public_numbers.n
        c = int.from_bytes(m, "big")
        s_p = (pow(c, numbers.dmp1, numbers.p) + 1) % numbers.p  # the fault
        s_q = pow(c, numbers.dmq1, numbers.q)
        s = s_q + numbers.q * (numbers.iqmp * (s_p - s_q) % numbers.p)
        return (s % n).to_bytes(len(m), "big")


class ShortBackend:
    """A backend that drops a byte of its output."""

    name = "short"

    def private_op(self, private_key: rsa.RSAPrivateKey, m: bytes) -> bytes:
        return get_backend("python").private_op(private_key, m)[1:]


def test_all_backends_are_available_in_the_dev_environment() -> None:
    # libcrypto (OpenSSL 3) and gmpy2 are part of the dev setup; if one is missing the
    # vector and agreement tests would fail anyway, this says why.
    assert available_backends() == ("libcrypto", "gmpy2", "python")


def test_auto_prefers_libcrypto() -> None:
    assert get_backend().name == "libcrypto"
    assert get_backend("auto") is get_backend("libcrypto")


@pytest.mark.parametrize("name", CONCRETE_BACKENDS)
def test_backends_are_found_by_their_name(name: str) -> None:
    assert get_backend(name).name == name


@pytest.mark.parametrize("name", ["", "openssl3", "LIBCRYPTO", "gmp"])
def test_unknown_backend_names_are_refused(name: str) -> None:
    with pytest.raises(UnknownBackendError) as info:
        get_backend(name)
    assert info.value.name == name


def test_a_missing_library_is_reported_not_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forcing a backend whose library is absent raises instead of falling back."""
    import builtins

    real_import = builtins.__import__

    def no_gmpy2(name: str, *args: object, **kwargs: object) -> object:
        if name == "gmpy2":
            raise ImportError("gmpy2 hidden by the test")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_gmpy2)
    with pytest.raises(BackendUnavailableError) as info:
        rsa_backends.Gmpy2Backend()
    assert info.value.name == "gmpy2"


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_backends_agree_on_random_inputs(
    keys: dict[int, rsa.RSAPrivateKey], data: st.DataObject
) -> None:
    bits = data.draw(st.sampled_from([2048, 3072]), label="bits")
    key = keys[bits]
    n = key.public_key().public_numbers().n
    m = data.draw(st.integers(1, n - 1), label="m").to_bytes(bits // 8, "big")
    results = {name: get_backend(name).private_op(key, m) for name in CONCRETE_BACKENDS}
    assert len(set(results.values())) == 1, results.keys()
    s = int.from_bytes(results["python"], "big")
    assert pow(s, 65537, n) == int.from_bytes(m, "big")


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_backend_private_op_replays_the_vectors(vector: object, backend: RSABackend) -> None:
    from .conftest import Vector

    assert isinstance(vector, Vector)
    assert backend.private_op(vector.private_key, vector.blinded_msg) == vector.blind_sig


def test_backends_check_their_input(key_2048: rsa.RSAPrivateKey, backend: RSABackend) -> None:
    n = key_2048.public_key().public_numbers().n
    with pytest.raises(InvalidLengthError):
        backend.private_op(key_2048, b"\x01" * 255)
    for value in (0, n):
        with pytest.raises(OutOfRangeError):
            backend.private_op(key_2048, value.to_bytes(256, "big"))


def test_backends_are_thread_safe(key_2048: rsa.RSAPrivateKey, backend: RSABackend) -> None:
    n = key_2048.public_key().public_numbers().n
    inputs = [secrets.randbelow(n - 1) + 1 for _ in range(24)]
    d = key_2048.private_numbers().d
    expected = [int(gmpy2.powmod(m, d, n)) for m in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(lambda m: backend.private_op(key_2048, m.to_bytes(256, "big")), inputs)
        )
    assert [int.from_bytes(s, "big") for s in results] == expected


def test_key_cache_eviction_keeps_results_right(
    monkeypatch: pytest.MonkeyPatch, key_2048: rsa.RSAPrivateKey, key_3072: rsa.RSAPrivateKey
) -> None:
    """With room for one key, alternating keys reloads them and stays correct."""
    monkeypatch.setattr(rsa_backends, "_KEY_CACHE_SIZE", 1)
    backend = rsa_backends.OpenSSLBackend()
    for _ in range(3):
        for key in (key_2048, key_3072):
            n = key.public_key().public_numbers().n
            k = key.key_size // 8
            s = backend.private_op(key, (12345).to_bytes(k, "big"))
            assert pow(int.from_bytes(s, "big"), 65537, n) == 12345


def test_blind_sign_withholds_a_faulty_result(key_2048: rsa.RSAPrivateKey) -> None:
    faulty = FaultyBackend()
    blinded, _inv = rsabssa.blind(key_2048.public_key(), b"m", variant=rsabssa.DEFAULT_VARIANT)
    # The faulty value really is the dangerous kind: it is correct modulo q only.
    wrong = int.from_bytes(faulty.private_op(key_2048, blinded), "big")
    n = key_2048.public_key().public_numbers().n
    import math

    assert math.gcd(pow(wrong, 65537, n) - int.from_bytes(blinded, "big"), n) == (
        key_2048.private_numbers().q
    )
    with pytest.raises(SigningFailureError) as info:
        rsabssa.blind_sign(key_2048, blinded, backend=faulty)
    assert info.value.backend == "faulty"
    assert faulty.calls == 2
    # The error says nothing about the value it withheld.
    assert str(wrong) not in str(info.value)
    assert f"{wrong:x}" not in str(info.value)


def test_blind_sign_withholds_a_wrong_length_result(key_2048: rsa.RSAPrivateKey) -> None:
    blinded, _inv = rsabssa.blind(key_2048.public_key(), b"m", variant=rsabssa.DEFAULT_VARIANT)
    with pytest.raises(SigningFailureError):
        rsabssa.blind_sign(key_2048, blinded, backend=ShortBackend())


def test_crt_key_repr_hides_the_factors(key_2048: rsa.RSAPrivateKey) -> None:
    crt = rsa_backends._crt_key(key_2048)
    assert str(crt.p) not in repr(crt)


def test_evicted_native_handles_are_freed(
    monkeypatch: pytest.MonkeyPatch, key_2048: rsa.RSAPrivateKey, key_3072: rsa.RSAPrivateKey
) -> None:
    """An evicted key's EVP_PKEY and contexts are released once no call uses them."""
    import gc
    import weakref

    freed: list[int] = []
    real_free = rsa_backends._free_evp

    def spy(lib: object, pkey: int, contexts: list[int]) -> None:
        freed.append(pkey)
        real_free(lib, pkey, contexts)  # type: ignore[arg-type]

    monkeypatch.setattr(rsa_backends, "_KEY_CACHE_SIZE", 1)
    monkeypatch.setattr(rsa_backends, "_free_evp", spy)
    backend = rsa_backends.OpenSSLBackend()
    backend.private_op(key_2048, (7).to_bytes(256, "big"))
    handle = weakref.ref(backend._keys.get(key_2048))
    pkey = handle().pkey  # type: ignore[union-attr]
    backend.private_op(key_3072, (7).to_bytes(384, "big"))  # evicts key_2048
    gc.collect()
    assert handle() is None
    assert freed == [pkey]

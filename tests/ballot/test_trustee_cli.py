"""``parvis-trustee`` end to end: a 2-of-3 COCKTAIL-DKG ceremony, sealed files, threshold
decryption with proofs, and the checks — driven through the command line, as three trustees
on three machines would (ballot-secrecy.md §1 "Trustees", "Trustee tool"; ADR 0012;
docs/trustee-tool.md).

Every step is a real ``python -m ballot.trustee`` process over files in a temporary
directory; the coordinator's part (collecting files into the ceremony document) is the few
lines of JSON :func:`ceremony_document` writes. The standalone test runs the tool with every
distribution but cryptography, PyNaCl and rfc8785 refused, as
``tests/ballot/test_verify_standalone.py`` does for the verifier.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ballot.decryption_proof import prove_decryption
from ballot.elgamal import Ciphertext, encrypt, message_point
from ballot.group import ORDER, Point, Scalar
from ballot.transcript import Context

ROOT = Path(__file__).resolve().parents[2]
ELECTION = "0c6d1c1e-8a5b-4bd4-9f57-0a3b7f3c2d11"
MANIFEST_HASH = bytes(range(32))
FINAL_MANIFEST_HASH = bytes(range(32, 64))
ENV = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}


def command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "ballot.trustee", *map(str, args)]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args), cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120, check=False
    )


def run_all(commands: Sequence[Sequence[str | Path]]) -> list[subprocess.CompletedProcess[str]]:
    """The trustees work at the same time, on their own machines."""
    processes = [
        subprocess.Popen(
            command(*args),
            cwd=ROOT,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    results = []
    for process, args in zip(processes, commands, strict=True):
        stdout, stderr = process.communicate(timeout=120)
        results.append(
            subprocess.CompletedProcess(command(*args), process.returncode, stdout, stderr)
        )
        assert process.returncode == 0, stderr
        assert stderr == ""
    return results


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document, indent=2))
    return path


def load(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def ceremony_document(directory: Path, *, signatures: bool) -> dict[str, Any]:
    """What the coordinator assembles from the trustees' public files."""
    document = {
        "format": "parvis-dkg-ceremony-v1",
        "setup": load(directory / "setup.json"),
        "round1": [load(directory / f"round1-{i}.json") for i in (1, 2, 3)],
    }
    if signatures:
        document["signatures"] = [load(directory / f"signature-{i}.json") for i in (1, 2, 3)]
    return document


@dataclass
class Done:
    directory: Path
    static_keys: list[str]
    group_keys: list[str]

    def key(self, i: int) -> Path:
        return self.directory / f"key-{i}.sealed"

    def share(self, i: int) -> Path:
        return self.directory / f"share-{i}.sealed"

    def passphrase(self, i: int) -> Path:
        return self.directory / f"passphrase-{i}"


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> Done:
    """The ceremony, step by step, as docs/trustee-tool.md describes it."""
    directory = tmp_path_factory.mktemp("ceremony")
    trustees = (1, 2, 3)
    for i in trustees:
        (directory / f"passphrase-{i}").write_text(f"trustee {i} says: correct horse battery\n")

    def step(i: int, name: str, *flags: str) -> list[str | Path]:
        """Trustee ``i``'s ``name`` subcommand; ``flags`` are ``--flag=file`` in ``directory``."""
        args: list[str | Path] = ["--passphrase-file", directory / f"passphrase-{i}", name]
        for flag in flags:
            option, file = flag.split("=")
            args += [option, directory / file.format(i=i)]
        return args

    # Each trustee makes a static key for this election and gives the officer its public key.
    keygen = run_all(
        [[*step(i, "keygen", "--out=key-{i}.sealed"), "--election", ELECTION] for i in trustees]
    )
    static_keys = [result.stdout.split("static key: ")[1].strip() for result in keygen]
    # The election officer writes the setup.
    write(
        directory / "setup.json",
        {
            "format": "parvis-dkg-setup-v1",
            "election": ELECTION,
            "attempt": 1,
            "threshold": 2,
            "manifest_hash": MANIFEST_HASH.hex(),
            "participants": [
                {"label": label, "static_key": key}
                for label, key in zip(["Bureau", "Opposition", "CADA"], static_keys, strict=True)
            ],
        },
    )
    # Round 1: each trustee's message; the coordinator collects them.
    run_all(
        [
            step(
                i, "round1", "--config=setup.json", "--key=key-{i}.sealed", "--out=round1-{i}.json"
            )
            for i in trustees
        ]
    )
    write(directory / "round1s.json", ceremony_document(directory, signatures=False))
    # Round 2: each trustee checks everything and seals its share.
    round2 = run_all(
        [
            step(
                i,
                "round2",
                "--transcript=round1s.json",
                "--key=key-{i}.sealed",
                "--out=share-{i}.sealed",
            )
            for i in trustees
        ]
    )
    group_keys = [result.stdout.split("group key: ")[1].strip() for result in round2]
    # Round 3: each trustee signs the transcript; the coordinator completes the ceremony.
    run_all(
        [
            step(
                i,
                "round3",
                "--transcript=round1s.json",
                "--share=share-{i}.sealed",
                "--out=signature-{i}.json",
            )
            for i in trustees
        ]
    )
    write(directory / "ceremony.json", ceremony_document(directory, signatures=True))
    return Done(directory, static_keys, group_keys)


def decrypt_args(
    done: Done, i: int, directory: Path, out: str, *, share: int | None = None
) -> list[str | Path]:
    """``decrypt`` by trustee ``i`` (with trustee ``share``'s file if given) of the sums and
    context in ``directory``."""
    return [
        "--passphrase-file", done.passphrase(i), "decrypt", "--share", done.share(share or i),
        "--ciphertexts", directory / "sums.json", "--context", directory / "context.json",
        "--out", directory / out,
    ]  # fmt: skip


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_every_trustee_gets_the_same_group_key_and_check_confirms_it(done: Done) -> None:
    assert len(set(done.group_keys)) == 1
    assert len(set(done.static_keys)) == 3
    result = run("check", "--ceremony", done.directory / "ceremony.json")
    assert result.returncode == 0, result.stderr
    assert f"ok  group key {done.group_keys[0]}" in result.stdout.splitlines()
    assert "2 of 3" in result.stdout


def test_sealed_files_are_private_and_record_moderate_argon2id(done: Done) -> None:
    for i in (1, 2, 3):
        for path in (done.key(i), done.share(i)):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            envelope = load(path)
            assert envelope["format"] == "parvis-trustee-sealed-v1"
            # libsodium's MODERATE profile, never anything weaker (ballot/trustee_file.py).
            assert envelope["kdf"]["opslimit"] == 3
            assert envelope["kdf"]["memlimit"] == 256 * 1024 * 1024
            assert done.static_keys[i - 1] not in path.read_text()
    assert not [p for p in done.directory.iterdir() if p.name.startswith(".")]  # no temp files


def test_a_sealed_file_opens_only_with_its_passphrase(done: Done, tmp_path: Path) -> None:
    write(tmp_path / "context.json", context_document())
    write(tmp_path / "sums.json", sums_document([("q", some_ciphertext(done))]))
    # Trustee 2's passphrase on trustee 1's share file.
    result = run(*decrypt_args(done, 2, tmp_path, "partials.json", share=1))
    assert "wrong passphrase" in one_error_line(result)
    assert not (tmp_path / "partials.json").exists()


def test_a_tampered_or_truncated_sealed_file_is_refused(done: Done, tmp_path: Path) -> None:
    envelope = load(done.share(1))
    body = bytes.fromhex(envelope["ciphertext"])
    envelope["ciphertext"] = (body[:10] + bytes([body[10] ^ 1]) + body[11:]).hex()
    tampered = write(tmp_path / "tampered.sealed", envelope)
    truncated = tmp_path / "truncated.sealed"
    truncated.write_bytes(done.share(1).read_bytes()[:700])
    write(tmp_path / "context.json", context_document())
    write(tmp_path / "sums.json", sums_document([("q", some_ciphertext(done))]))

    def decrypt(share: Path) -> str:
        args = decrypt_args(done, 1, tmp_path, "partials.json")
        args[args.index("--share") + 1] = share
        return one_error_line(run(*args))

    assert "the sealed content was altered" in decrypt(tampered)
    assert "truncated" in decrypt(truncated)


def context_document() -> dict[str, Any]:
    return {
        "format": "parvis-decryption-context-v1",
        "election": ELECTION,
        "manifest_hash": FINAL_MANIFEST_HASH.hex(),
    }


def sums_document(items: list[tuple[str, Ciphertext]]) -> dict[str, Any]:
    return {
        "format": "parvis-tally-sums-v1",
        "election": ELECTION,
        "ciphertexts": [{"label": label, "ciphertext": c.to_bytes().hex()} for label, c in items],
    }


def some_ciphertext(done: Done, message: int = 1) -> Ciphertext:
    key = Point.decode(bytes.fromhex(done.group_keys[0]))
    return encrypt(message, key, nonce=Scalar.random())


def test_two_of_three_partial_decryptions_combine_to_the_tally(done: Done, tmp_path: Path) -> None:
    # Seven ballots on one option (1,1,0,1,1,1,1: a count of 6) and one on another (count 1).
    key = Point.decode(bytes.fromhex(done.group_keys[0]))
    first = [encrypt(m, key, nonce=Scalar.random()) for m in (1, 1, 0, 1, 1, 1, 1)]
    second = [encrypt(m, key, nonce=Scalar.random()) for m in (0, 1)]
    total_first, total_second = first[0], second[0]
    for c in first[1:]:
        total_first = total_first + c
    total_second = total_second + second[1]
    write(tmp_path / "sums.json", sums_document([("parc", total_first), ("gare", total_second)]))
    write(tmp_path / "context.json", context_document())
    # Trustee 2 is away: 1 and 3 decrypt.
    run_all([decrypt_args(done, i, tmp_path, f"partials-{i}.json") for i in (1, 3)])
    partials = {i: load(tmp_path / f"partials-{i}.json") for i in (1, 3)}
    assert [p["trustee"] for p in partials.values()] == [1, 3]

    # Lagrange at 0 for {1, 3}, written out: λ1 = 3/(3−1), λ3 = 1/(1−3).
    inverse_two = pow(2, -1, ORDER)
    lambdas = {1: Scalar.of(3 * inverse_two), 3: Scalar.of(-inverse_two)}
    for position, (total, count) in enumerate([(total_first, 6), (total_second, 1)]):
        factor = (
            Point.decode(bytes.fromhex(partials[1]["partials"][position]["partial"])) * (lambdas[1])
            + Point.decode(bytes.fromhex(partials[3]["partials"][position]["partial"])) * lambdas[3]
        )
        assert total.beta - factor == message_point(count)

    result = run(
        "check",
        "--ceremony",
        done.directory / "ceremony.json",
        "--ciphertexts",
        tmp_path / "sums.json",
        "--context",
        tmp_path / "context.json",
        "--bound",
        "10",
        "--partials",
        tmp_path / "partials-1.json",
        tmp_path / "partials-3.json",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "ok  trustee 1: 2 partial decryption(s) with valid proofs" in lines
    assert "ok  trustee 3: 2 partial decryption(s) with valid proofs" in lines
    assert lines[-2:] == ["parc: 6", "gare: 1"]


def test_check_names_and_refuses_a_partial_decryption_from_a_wrong_share(
    done: Done, tmp_path: Path
) -> None:
    total = some_ciphertext(done, 3)
    write(tmp_path / "sums.json", sums_document([("parc", total)]))
    write(tmp_path / "context.json", context_document())
    ceremony = load(done.directory / "ceremony.json")
    honest = run(*decrypt_args(done, 1, tmp_path, "partials-1.json"))
    assert honest.returncode == 0, honest.stderr
    # Trustee 3 uses a share that is not its own, with an honestly computed proof; the file
    # claims its real keys (taken from the ceremony and from a genuine partials file).
    static_key = bytes.fromhex(ceremony["setup"]["participants"][2]["static_key"])
    context = Context(ELECTION, FINAL_MANIFEST_HASH, static_key)
    partial, proof = prove_decryption(context, share=Scalar.random(), ciphertext=total)
    genuine = run(*decrypt_args(done, 3, tmp_path, "partials-3.json"))
    assert genuine.returncode == 0, genuine.stderr
    forged = load(tmp_path / "partials-3.json")
    forged["partials"][0]["partial"] = partial.encoded.hex()
    forged["partials"][0]["proof"] = proof.to_bytes().hex()
    write(tmp_path / "partials-3.json", forged)

    result = run(
        "check",
        "--ceremony",
        done.directory / "ceremony.json",
        "--ciphertexts",
        tmp_path / "sums.json",
        "--context",
        tmp_path / "context.json",
        "--partials",
        tmp_path / "partials-1.json",
        tmp_path / "partials-3.json",
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: trustee 3's partial decryption of 'parc' is refused: decryption proof: the "
        "response fails its check against the share"
    ]


def test_round2_refuses_a_round1_message_altered_by_the_coordinator(
    done: Done, tmp_path: Path
) -> None:
    document = load(done.directory / "round1s.json")
    message = bytearray.fromhex(document["round1"][1]["message"])
    message[-1] ^= 1  # the last byte of the last ciphertext
    document["round1"][1]["message"] = message.hex()
    write(tmp_path / "round1s.json", document)
    result = run(
        "--passphrase-file",
        done.passphrase(1),
        "round2",
        "--transcript",
        tmp_path / "round1s.json",
        "--key",
        done.key(1),
        "--out",
        tmp_path / "share.sealed",
    )
    assert one_error_line(result) == (
        "error: participant 2: the round-1 envelope signature does not verify"
    )


def test_check_refuses_an_incomplete_or_forged_certificate(done: Done, tmp_path: Path) -> None:
    document = load(done.directory / "ceremony.json")
    document["signatures"] = document["signatures"][:2]
    incomplete = run("check", "--ceremony", write(tmp_path / "incomplete.json", document))
    assert "the certificate lacks 1 of 3 signatures" in one_error_line(incomplete)
    document = load(done.directory / "ceremony.json")
    document["signatures"][2]["signature"] = document["signatures"][1]["signature"]
    forged = run("check", "--ceremony", write(tmp_path / "forged.json", document))
    assert one_error_line(forged) == ("error: participant 3: the transcript signature is invalid")


def test_round1_never_equivocates_and_a_key_serves_one_attempt(done: Done, tmp_path: Path) -> None:
    # Run again (the trustee lost its output): the very same message, not a second one.
    again = run(
        "--passphrase-file", done.passphrase(2), "round1",
        "--config", done.directory / "setup.json", "--key", done.key(2),
        "--out", tmp_path / "round1-again.json",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert load(tmp_path / "round1-again.json") == load(done.directory / "round1-2.json")
    # A new attempt (same trustees, same keys) is refused: fresh keys per attempt (ADR 0012).
    setup = load(done.directory / "setup.json")
    setup["attempt"] = 2
    other = run(
        "--passphrase-file", done.passphrase(2), "round1", "--config",
        write(tmp_path / "setup-2.json", setup), "--key", done.key(2),
        "--out", tmp_path / "round1-2.json",
    )  # fmt: skip
    assert "already took part in another attempt" in one_error_line(other)
    assert not (tmp_path / "round1-2.json").exists()


def test_bad_invocations_and_missing_files_are_one_line_errors(tmp_path: Path) -> None:
    assert one_error_line(run("shuffle")).startswith("error: argument command: invalid choice")
    assert "--out" in one_error_line(run("keygen", "--election", ELECTION))
    missing = one_error_line(run("check", "--ceremony", tmp_path / "none.json"))
    assert "No such file or directory" in missing
    (tmp_path / "key.sealed").write_text("precious")
    overwrite = run("keygen", "--election", ELECTION, "--out", tmp_path / "key.sealed")
    assert "refusing to overwrite" in one_error_line(overwrite)
    assert (tmp_path / "key.sealed").read_text() == "precious"
    (tmp_path / "bad.json").write_text("{")
    assert "not JSON" in one_error_line(run("check", "--ceremony", tmp_path / "bad.json"))


# --- the standalone tool -------------------------------------------------------------------

# Runs in the child: refuse (and record) every import outside the standard library, the
# `ballot` package and the `verify` extra (cryptography, PyNaCl, rfc8785) — stricter than the
# verifier's test: not even `parvis` or `audit`. Then run the trustee tool's command line.
RUNNER = r"""
import atexit, importlib.abc, sys

# ballot.trustee is parvis_verifier.trustee (the verifier distribution, ADR 0020).
ALLOWED = {"ballot", "parvis_verifier", "cryptography", "_cffi_backend", "nacl", "_sodium",
           "rfc8785"} | set(sys.stdlib_module_names)
# Optional imports that libraries probe and do without (cryptography's bcrypt support, the
# standard library's Jython check).
PROBES = {"bcrypt", "org"}
refused = []

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.split(".")[0]
        if top not in ALLOWED:
            if top not in PROBES:
                refused.append(name)
            raise ImportError(f"refused by the test: {name}")
        return None

sys.meta_path.insert(0, Refuse())
atexit.register(lambda: print("REFUSED:", sorted(set(refused)), file=sys.stderr))

import runpy
sys.argv = ["ballot.trustee", *sys.argv[1:]]
runpy.run_module("ballot.trustee", run_name="__main__", alter_sys=True)
"""


def run_standalone(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *map(str, args)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_runs_with_only_cryptography_pynacl_and_rfc8785(done: Done, tmp_path: Path) -> None:
    write(tmp_path / "sums.json", sums_document([("parc", some_ciphertext(done, 2))]))
    write(tmp_path / "context.json", context_document())
    results = [
        run_standalone(
            "--passphrase-file",
            done.passphrase(1),
            "keygen",
            "--election",
            ELECTION,
            "--out",
            tmp_path / "key.sealed",
        ),
        *(run_standalone(*decrypt_args(done, i, tmp_path, f"partials-{i}.json")) for i in (2, 3)),
        run_standalone(
            "check",
            "--ceremony",
            done.directory / "ceremony.json",
            "--ciphertexts",
            tmp_path / "sums.json",
            "--context",
            tmp_path / "context.json",
            "--bound",
            "5",
            "--partials",
            tmp_path / "partials-2.json",
            tmp_path / "partials-3.json",
        ),
    ]
    for result in results:
        assert result.returncode == 0, result.stderr
        assert result.stderr.splitlines() == ["REFUSED: []"]
    assert results[-1].stdout.splitlines()[-1] == "parc: 2"
    assert stat.S_IMODE(os.stat(tmp_path / "key.sealed").st_mode) == 0o600

"""The independent verifier accepts a good board and names the first discrepancy of each
kind of tampering (voting-protocol.md, "Verification anyone can run")."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from multiprocessing import get_context
from typing import Any

import nacl.bindings
import nacl.signing
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from audit.merkle import CompactRange, root
from audit.note import Checkpoint, Signer, sign_note
from ballot import board, rsabssa, verify
from ballot.jcs import canonical
from ballot.token import TOKEN_DOMAIN, b64u_encode
from ballot.verify import (
    BoardVerificationError,
    _check_fast,
    _check_reference,
    _Context,
    _Tree,
    main,
    verify_board,
)
from tests.support.boards import ORIGIN, BoardBuilder, build_board, random_choices

Export = dict[str, Any]


@pytest.fixture(scope="module")
def built() -> BoardBuilder:
    return build_board(12, revoters=3)


@pytest.fixture
def export(built: BoardBuilder) -> Export:
    return copy.deepcopy(built.export())


def resign(export: Export, built: BoardBuilder, *, signer: Signer | None = None) -> Export:
    """What an operator holding the board key can do: re-sign one checkpoint of the
    (tampered) entries, dropping every earlier checkpoint that would contradict it."""
    leaves = []
    for entry in export["entries"]:
        hidden = board.withheld_hash(entry)
        leaves.append(hidden if hidden is not None else board.entry_leaf_hash(entry))
    tree = CompactRange.empty().append(leaves).compact_range
    body = Checkpoint(origin=ORIGIN, size=tree.size, root_hash=tree.root()).text
    export["checkpoints"] = [sign_note(body, signers=[signer or built.signer])]
    return export


def ballot_indexes(export: Export) -> list[int]:
    return [i for i, e in enumerate(export["entries"]) if e.get("kind") == "ballot"]


def test_a_good_board_verifies(export: Export, built: BoardBuilder) -> None:
    report = verify_board(export, trusted_key=built.signer.verifier.text, workers=1)
    assert report.entries == len(export["entries"])
    assert report.ballots_on_board == 15  # 12 voters, 3 of whom re-voted
    assert report.counted_ballots == 12
    assert report.tokens_issued == 12
    assert report.recounted
    assert report.checkpoints == len(built.checkpoints) > 1


def test_receipt_tracking_code_is_found(export: Export) -> None:
    index = ballot_indexes(export)[4]
    code = board.tracking_code(board.entry_leaf_hash(export["entries"][index]))
    report = verify_board(export, receipt=code.lower().replace("-", " "), workers=1)
    assert report.receipt_index == index
    with pytest.raises(BoardVerificationError, match="no ballot on the board has the tracking"):
        verify_board(export, receipt="AAAA-AAAA-AAAA-AAAA", workers=1)


def test_parallel_and_serial_verification_agree(built: BoardBuilder) -> None:
    big = build_board(40, seed=9, key=built.key)
    serial = verify_board(big.export(), workers=1)
    parallel = verify_board(big.export(), workers=2, chunk=6)  # 7 batches over 2 processes
    assert (serial.counted_ballots, serial.checks) == (parallel.counted_ballots, parallel.checks)


def test_workers_that_do_not_fork_get_the_ballots_pickled(
    built: BoardBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where fork is unavailable or unsafe, the pool spawns fresh interpreters that parse
    # the manifest and receive each chunk's entries: the same report, the same faults.
    monkeypatch.setattr(verify, "_pool_context", lambda: (get_context("spawn"), False))
    board_ = build_board(10, seed=4, key=built.key)
    serial = verify_board(board_.export(), workers=1)
    spawned = verify_board(board_.export(), workers=2, chunk=3)
    assert (serial.counted_ballots, serial.checks) == (spawned.counted_ballots, spawned.checks)
    tampered = wrong_tally(copy.deepcopy(board_.export()), board_)
    with pytest.raises(BoardVerificationError, match="published tally differs"):
        verify_board(tampered, workers=2, chunk=3)


def test_untrusted_board_key_is_refused(export: Export) -> None:
    other = Signer(name=ORIGIN, seed=b"\x09" * 32)
    with pytest.raises(BoardVerificationError, match="not the key you trust"):
        verify_board(export, trusted_key=other.verifier.text, workers=1)


# Each tampering: (name, change, expected message). `change` may re-sign like an operator.
def removed(export: Export, built: BoardBuilder) -> Export:
    del export["entries"][ballot_indexes(export)[2]]
    return export


def altered(export: Export, built: BoardBuilder) -> Export:
    entry = export["entries"][ballot_indexes(export)[0]]
    entry["cast"]["ballot"]["choices"]["parc"] = (
        "gare" if entry["cast"]["ballot"]["choices"]["parc"] == "tilleuls" else "tilleuls"
    )
    return export


def altered_and_resigned(export: Export, built: BoardBuilder) -> Export:
    return resign(altered(export, built), built)


def duplicated(export: Export, built: BoardBuilder) -> Export:
    entries = export["entries"]
    i = ballot_indexes(export)[-1]
    entries.insert(i + 1, copy.deepcopy(entries[i]))
    return resign(export, built)


def reordered(export: Export, built: BoardBuilder) -> Export:
    entries = export["entries"]
    a, b = ballot_indexes(export)[1], ballot_indexes(export)[5]
    entries[a], entries[b] = entries[b], entries[a]
    return export


def revote_reordered(export: Export, built: BoardBuilder) -> Export:
    # voter 0 cast seq 1 then seq 2 (entries 1 and 2): put the re-vote first
    entries = export["entries"]
    a, b = ballot_indexes(export)[0], ballot_indexes(export)[1]
    entries[a], entries[b] = entries[b], entries[a]
    return resign(export, built)


def foreign_key(export: Export, built: BoardBuilder) -> Export:
    # same election id, another issuer key: a token the manifest's key never signed
    stranger = BoardBuilder.create(key=rsabssa.generate_key(2048))
    right = stranger.voting_right()
    _, request = right.cast(random_choices(random.Random(3)))
    entries = export["entries"]
    entries.insert(ballot_indexes(export)[-1] + 1, board.ballot_entry(request))
    return resign(export, built)


def broken_consistency(export: Export, built: BoardBuilder) -> Export:
    # an early checkpoint replaced by one of another tree of the same size, properly signed
    first = Checkpoint.parse(export["checkpoints"][1].split("\n\n")[0] + "\n")
    forged = Checkpoint(origin=ORIGIN, size=first.size, root_hash=b"\x01" * 32).text
    export["checkpoints"][1] = sign_note(forged, signers=[built.signer])
    return export


def wrong_tally(export: Export, built: BoardBuilder) -> Export:
    results = export["entries"][-1]["results"]["questions"]["parc"]["counts"]
    results["gare"] += 1
    return resign(export, built)


def more_ballots_than_tokens(export: Export, built: BoardBuilder) -> Export:
    for entry in export["entries"]:
        if entry.get("kind") in {"close", "results"}:
            entry["tokens_issued"] = 10
    return resign(export, built)


def manifest_not_first(export: Export, built: BoardBuilder) -> Export:
    entries = export["entries"]
    entries[0], entries[1] = entries[1], entries[0]
    return resign(export, built)


def ballot_after_close(export: Export, built: BoardBuilder) -> Export:
    entries = export["entries"]
    entries.append(copy.deepcopy(entries[ballot_indexes(export)[0]]))
    return resign(export, built)


def forged_checkpoint(export: Export, built: BoardBuilder) -> Export:
    return resign(altered(export, built), built, signer=Signer(name=ORIGIN, seed=b"\x05" * 32))


def truncated(export: Export, built: BoardBuilder) -> Export:
    export["entries"] = export["entries"][:-1]
    return export


def results_withheld_wrongly(export: Export, built: BoardBuilder) -> Export:
    i = ballot_indexes(export)[-1]  # the last voter did not re-vote
    export["entries"][i] = {"withheld": b64u_encode(board.entry_leaf_hash(export["entries"][i]))}
    return export


TAMPERINGS: list[tuple[Callable[[Export, BoardBuilder], Export], str]] = [
    (removed, "is not the root of the entries|covers 18 entries but the export has 17"),
    (altered, "root for size .* is not the root of the entries"),
    (altered_and_resigned, "ballot signature"),
    (duplicated, "a re-vote with seq 1 after seq 1"),
    (reordered, "root for size .* is not the root of the entries"),
    (revote_reordered, "a re-vote with seq 1 after seq 2"),
    (foreign_key, "signature"),
    (broken_consistency, "checkpoint 1: its root for size"),
    (wrong_tally, "published tally differs from the recount"),
    (more_ballots_than_tokens, "12 ballots counted but only 10 tokens issued"),
    (manifest_not_first, "entry 0 must be the manifest"),
    (ballot_after_close, "a ballot after the close entry"),
    (forged_checkpoint, "checkpoint 0"),
    (truncated, "covers .* entries but the export has"),
    (results_withheld_wrongly, "ballots withheld but publication is not aggregate"),
]


@pytest.mark.parametrize("workers", [1, 2], ids=["serial", "parallel"])
@pytest.mark.parametrize(("tamper", "message"), TAMPERINGS, ids=[t.__name__ for t, _ in TAMPERINGS])
def test_tampering_is_caught(
    export: Export,
    built: BoardBuilder,
    tamper: Callable[[Export, BoardBuilder], Export],
    message: str,
    workers: int,
) -> None:
    # In parallel, chunks of 2 ballots spread over 2 processes: the same first fault.
    with pytest.raises(BoardVerificationError, match=message):
        verify_board(tamper(export, built), workers=workers, chunk=2)


def test_parallel_chunks_report_the_lowest_index(export: Export, built: BoardBuilder) -> None:
    indexes = ballot_indexes(export)
    for i in (indexes[11], indexes[4]):  # two bad ballots in different chunks
        export["entries"][i]["cast"]["ballot"]["seq"] += 10
    resign(export, built)
    with pytest.raises(BoardVerificationError, match=f"entry {indexes[4]}: ballot signature"):
        verify_board(export, workers=2, chunk=2)


def test_no_revote_board_refuses_a_second_ballot() -> None:
    builder = BoardBuilder.create(revote=False)
    right = builder.voting_right()
    right = builder.cast(right, {"parc": "gare", "budget": []})
    builder.cast(right, {"parc": "tilleuls", "budget": []})
    builder.close()
    with pytest.raises(BoardVerificationError, match="re-voting is not allowed"):
        verify_board(builder.export(), workers=1)


def test_more_tokens_than_eligible_population() -> None:
    builder = BoardBuilder.create(population=1)
    for _ in range(2):
        builder.cast(builder.voting_right(), {"parc": "gare", "budget": ["bancs"]})
    builder.close()
    with pytest.raises(
        BoardVerificationError, match="2 tokens issued for an eligible population of 1"
    ):
        verify_board(builder.export(), workers=1)


def test_command_line(tmp_path: Any, export: Export, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    good = tmp_path / "board.json"
    good.write_text(json.dumps(export))
    assert main([str(good), "--workers", "1"]) == 0
    assert "verified: election" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(wrong_tally(copy.deepcopy(export), BoardBuilder.create())))
    assert main([str(bad), "--workers", "1"]) == 1
    assert "FAILED" in capsys.readouterr().err


# -- the fast path against the reference path --------------------------------------------------


def test_fast_path_agrees_with_the_reference_on_every_ballot(built: BoardBuilder) -> None:
    ctx = _Context.of(built.manifest)
    ballots = [e for e in built.entries if e["kind"] == "ballot"]
    for entry in ballots:
        fast = _check_fast(entry, ctx)
        assert fast is not None
        assert fast == _check_reference(entry, ctx)
        assert fast[0] == board.entry_leaf_hash(entry)  # JCS(entry) assembled exactly
        assert fast[3] == canonical(entry["cast"]["ballot"]["choices"]).decode()
    assert _check_fast(ballots[0], ctx) == _check_reference(ballots[0], ctx)  # cached rules


def _flip_pad_bits(text: str) -> str:
    """The same bytes in a non-canonical spelling (RFC 4648 §3.5: pad bits not zero)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return text[:-1] + alphabet[alphabet.index(text[-1]) | 1]


MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("padding", lambda e: e["cast"].update(ballot_sig=e["cast"]["ballot_sig"] + "==")),
    ("pad bits", lambda e: e["cast"].update(ballot_sig=_flip_pad_bits(e["cast"]["ballot_sig"]))),
    ("standard alphabet", lambda e: e["cast"]["token"].update(msg_prefix="+/" * 21 + "AA")),
    ("line break", lambda e: e["cast"]["token"].update(sig=e["cast"]["token"]["sig"] + "\n")),
    ("non-ASCII", lambda e: e["cast"]["token"].update(msg="é" + e["cast"]["token"]["msg"][1:])),
    ("short prefix", lambda e: e["cast"]["token"].update(msg_prefix=b64u_encode(b"\x00" * 31))),
    ("short sig", lambda e: e["cast"]["token"].update(sig=e["cast"]["token"]["sig"][4:])),
    (
        "upper-case election",
        lambda e: e["cast"]["ballot"].update(election=e["cast"]["ballot"]["election"].upper()),
    ),
    ("seq true", lambda e: e["cast"]["ballot"].update(seq=True)),
    ("seq 0", lambda e: e["cast"]["ballot"].update(seq=0)),
    ("seq 2^53", lambda e: e["cast"]["ballot"].update(seq=2**53)),
    ("seq text", lambda e: e["cast"]["ballot"].update(seq="1")),
    ("float choice", lambda e: e["cast"]["ballot"]["choices"].update(parc=1.0)),
    ("NaN choice", lambda e: e["cast"]["ballot"]["choices"].update(parc=float("nan"))),
    ("huge choice", lambda e: e["cast"]["ballot"]["choices"].update(parc=2**60)),
    ("choices not an object", lambda e: e["cast"]["ballot"].update(choices=["gare"])),
    ("extra token member", lambda e: e["cast"]["token"].update(extra="")),
    ("extra cast member", lambda e: e["cast"].update(extra="")),
    ("extra entry member", lambda e: e.update(extra="")),
    ("missing ballot_sig", lambda e: e["cast"].pop("ballot_sig")),
    ("another seq", lambda e: e["cast"]["ballot"].update(seq=e["cast"]["ballot"]["seq"] + 1)),
    ("another choice", lambda e: e["cast"]["ballot"]["choices"].update(budget=[])),
    ("cast not an object", lambda e: e.update(cast=[])),
]


@pytest.mark.parametrize(("name", "change"), MALFORMED, ids=[n for n, _ in MALFORMED])
def test_fast_path_leaves_every_fault_to_the_reference(
    built: BoardBuilder, name: str, change: Callable[[dict[str, Any]], None]
) -> None:
    ctx = _Context.of(built.manifest)
    entry = copy.deepcopy(next(e for e in built.entries if e["kind"] == "ballot"))
    assert _check_fast(entry, ctx) is not None  # the rules of its choices are now cached
    change(entry)
    assert _check_fast(entry, ctx) is None
    outcome = _check_reference(entry, ctx)
    assert len(outcome) == 2, name  # (leaf, reason): the reference refuses it too
    assert isinstance(outcome[1], str)
    assert outcome[1]


def test_a_signed_ballot_breaking_the_rules_is_refused_even_after_valid_ones() -> None:
    builder = BoardBuilder.create()
    builder.cast(builder.voting_right(), {"parc": "gare", "budget": ["bancs"]})
    builder.cast(builder.voting_right(), {"parc": "gare", "budget": ["jardin", "velos", "fresque"]})
    builder.close()
    with pytest.raises(BoardVerificationError, match=r"entry 2: .*envelope"):
        verify_board(builder.export(), workers=1)


def _token_entry(builder: BoardBuilder, voter_key: bytes, sign: Callable[[bytes], bytes]) -> Any:
    """A ballot entry whose token the election key really signed, for ``voter_key``."""
    msg = TOKEN_DOMAIN + builder.manifest.election_id + voter_key + b"\x05" * 32
    prefix = b"\x06" * 32
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
    ballot = {
        "election": "0c6d1c1e-8a5b-4bd4-9f57-0a3b7f3c2d11",
        "seq": 1,
        "choices": {"parc": "gare", "budget": []},
    }
    return {
        "kind": "ballot",
        "cast": {
            "token": {
                "msg_prefix": b64u_encode(prefix),
                "msg": b64u_encode(msg),
                "sig": b64u_encode(builder.key.sign(prefix + msg, pss, hashes.SHA384())),
            },
            "ballot": ballot,
            "ballot_sig": b64u_encode(sign(canonical(ballot))),
        },
    }


def test_small_order_voter_key_is_refused_by_libsodium() -> None:
    # The identity point as vk and (R, S) = (identity, 0): [0]B = R + [k]A for every
    # ballot, the "one signature for every ballot" that the prime-order check prevents at
    # casting. libsodium's verification refuses it by itself (small-order A and R).
    builder = BoardBuilder.create()
    identity = b"\x01" + b"\x00" * 31
    entry = _token_entry(builder, identity, lambda _: identity + b"\x00" * 32)
    assert _check_fast(entry, _Context.of(builder.manifest)) is None
    builder.entries.append(entry)
    builder.tokens_issued = 1
    builder.close()
    with pytest.raises(BoardVerificationError, match="entry 1: token voter key is not a valid"):
        verify_board(builder.export(), workers=1)


def test_mixed_order_voter_key_is_the_one_documented_difference() -> None:
    # vk = A + T (T of order 8): casting refuses it (not in the prime-order subgroup); the
    # verifier accepts a ballot signed under it, which still binds one ballot to the holder
    # of A's secret (the argument at ballot.verify._check_fast).
    builder = BoardBuilder.create()
    seed = b"\x11" * 32
    public = bytes(nacl.signing.SigningKey(seed).verify_key)
    order_8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
    mixed = nacl.bindings.crypto_core_ed25519_add(public, order_8)
    assert not nacl.bindings.crypto_core_ed25519_is_valid_point(mixed)

    def sign(message: bytes) -> bytes:
        return nacl.bindings.crypto_sign(message, seed + mixed)[:64]  # hashes with vk

    ctx = _Context.of(builder.manifest)
    outcomes = set()
    for nonce in range(64):  # the signature verifies when 8 divides the challenge
        entry = _token_entry(builder, mixed, sign)
        entry["cast"]["ballot"]["choices"]["parc"] = ("gare", "tilleuls")[nonce % 2]
        entry["cast"]["ballot"]["seq"] = nonce + 1
        entry["cast"]["ballot_sig"] = b64u_encode(sign(canonical(entry["cast"]["ballot"])))
        fast = _check_fast(entry, ctx)
        outcomes.add(fast is not None)
        if fast is not None:
            reference = _check_reference(entry, ctx)
            assert len(reference) == 2
            assert "not a valid Ed25519 public key" in str(reference[1])
    assert outcomes == {True, False}


def test_tree_folds_to_the_audit_engine_roots() -> None:
    leaves = [bytes([i]) * 32 for i in range(70)]
    tree = _Tree()
    assert tree.root() == root([])
    for size in range(1, 71):
        tree.append(leaves[size - 1 : size])
        assert tree.root() == root(leaves[:size])

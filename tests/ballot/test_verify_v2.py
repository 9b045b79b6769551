"""The verifier of encrypted boards (board-format.md §10.5): the example verifies, and each
check fails, naming itself, on a board altered to break it and re-signed by its operator
(so that only that check can tell)."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from ballot.group import BASE
from ballot.token import b64u_encode
from ballot.verify import BoardVerificationError, main, verify_board
from ballot.verify_v2 import EncryptedBoardError, verify_encrypted_board
from tests.ballot.encrypted_board import EXAMPLE, EncryptedBoard, build_board, build_example

Entries = list[dict[str, Any]]


@pytest.fixture(scope="module")
def example() -> EncryptedBoard:
    return build_example()


def kinds(entries: Entries, kind: str) -> list[int]:
    return [i for i, e in enumerate(entries) if e["kind"] == kind]


def failures(built: EncryptedBoard, alter: Callable[[Entries], None], **options: Any) -> list[str]:
    """The failure lines for the example altered by ``alter`` and re-signed."""
    entries = copy.deepcopy(built.entries)
    alter(entries)
    with pytest.raises(EncryptedBoardError) as raised:
        verify_board(built.resigned(entries), workers=options.get("workers", 1))
    return raised.value.failures


def test_the_committed_example_is_the_generator_output_and_verifies(
    example: EncryptedBoard,
) -> None:
    assert json.loads(EXAMPLE.read_text()) == example.export()
    report = verify_board(example.export(), workers=1)
    assert (report.entries, report.checkpoints) == (19, 3)
    assert (report.ballots_on_board, report.counted_ballots, report.tokens_issued) == (4, 3, 3)
    assert report.recounted
    assert report.checks[-1] == "the published results equal the decrypted counts (§6)"


def test_several_processes_give_the_same_lines_as_one(example: EncryptedBoard) -> None:
    def two_faults(entries: Entries) -> None:
        for index in kinds(entries, "ballot")[1:3]:
            entries[index]["cast"]["ballot"]["seq"] += 5  # ballot_sig no longer verifies

    one = failures(example, two_faults, workers=1)
    report = verify_encrypted_board(example.export(), workers=2, chunk=1)
    assert report.counted_ballots == 3
    entries = copy.deepcopy(example.entries)
    two_faults(entries)
    with pytest.raises(EncryptedBoardError) as raised:
        verify_encrypted_board(example.resigned(entries), workers=2, chunk=1)
    assert raised.value.failures == one
    assert one == [
        "entry 11: ballot signature does not verify",
        "entry 12: ballot signature does not verify",
        "entry 15: tally-sums not compared with the ballots: 2 ballot(s) fail",
    ]


# -- §10.5.1 the ceremony ---------------------------------------------------------------------


def test_a_dropped_dkg_signature(example: EncryptedBoard) -> None:
    def drop(entries: Entries) -> None:
        del entries[kinds(entries, "dkg-signature")[1]]

    lines = failures(example, drop)
    assert "entry 6: dkg-complete before the 3 signatures of its attempt (2 on the board)" in lines
    assert "ceremony of attempt 1: the certificate lacks 1 of 3 signatures" in lines


def test_a_forged_transcript_signature(example: EncryptedBoard) -> None:
    def forge(entries: Entries) -> None:
        signature = entries[kinds(entries, "dkg-signature")[2]]["signature"]
        raw = bytearray.fromhex(signature["signature"])
        raw[40] ^= 1
        signature["signature"] = raw.hex()

    assert "participant 3: the transcript signature is invalid" in " ".join(
        failures(example, forge)
    )


def test_a_round1_envelope_signed_by_another_key(example: EncryptedBoard) -> None:
    def forge(entries: Entries) -> None:
        first, second = kinds(entries, "dkg-round1")[:2]
        entries[first]["round1"]["signature"] = entries[second]["round1"]["signature"]

    assert any(
        "the round-1 envelope signature does not verify" in line
        for line in failures(example, forge)
    )


def test_a_wrong_verification_share_in_dkg_complete(example: EncryptedBoard) -> None:
    def swap(entries: Entries) -> None:
        shares = entries[kinds(entries, "dkg-complete")[0]]["verification_shares"]
        shares[0], shares[1] = shares[1], shares[0]

    assert failures(example, swap) == [
        "entry 7: dkg-complete: verification_shares is not the ceremony's"
    ]


def test_a_wrong_group_key_in_the_manifest(example: EncryptedBoard) -> None:
    def replace_key(entries: Entries) -> None:
        encryption = entries[8]["manifest"]["encryption"]
        encryption["joint_key"] = encryption["trustees"][0]["public_share"]

    lines = failures(example, replace_key)
    assert "entry 8: manifest: encryption.joint_key is not the ceremony's group key" in lines
    # Ballots were encrypted and proved under the real key and manifest: every one fails.
    assert all(
        any(line.startswith(f"entry {i}: encrypted ballot") for line in lines)
        for i in range(10, 14)
    )


def test_a_wrong_public_share_in_the_manifest(example: EncryptedBoard) -> None:
    def replace_share(entries: Entries) -> None:
        trustees = entries[8]["manifest"]["encryption"]["trustees"]
        trustees[2]["public_share"] = b64u_encode(BASE.encoded)

    lines = failures(example, replace_share)
    assert (
        "entry 8: manifest: encryption.trustees[2] is not participant 3 (label, static key, "
        "public share)" in lines
    )


def test_the_setup_binds_the_terms_of_the_election(example: EncryptedBoard) -> None:
    def change_terms(entries: Entries) -> None:
        entries[8]["manifest"]["eligibility"]["population"] += 1

    lines = failures(example, change_terms)
    assert (
        "entry 8: the setup's manifest_hash is not SHA-256 of the manifest without encryption"
        in lines
    )


def test_earlier_failed_attempts_are_allowed() -> None:
    built = EncryptedBoard.create(seed=b"two attempts", failed_attempts=1)
    voter = built.voting_right()
    built.cast(voter, {"parc": "gare", "budget": ["jardin"]})
    built.close(decrypting=(2, 3))
    report = verify_board(built.export(), workers=1)
    assert report.checks[0].startswith("ceremony: attempt 2, 2 of 3 trustees")

    entries = copy.deepcopy(built.entries)
    # The second attempt reuses participant 1's static key of the first.
    second = kinds(entries, "dkg-setup")[1]
    entries[second]["setup"]["participants"][0] = entries[0]["setup"]["participants"][0]
    with pytest.raises(EncryptedBoardError) as raised:
        verify_board(built.resigned(entries), workers=1)
    assert (
        f"entry {second}: dkg-setup of attempt 2: a static key of an earlier attempt is reused"
        in raised.value.failures
    )


# -- §10.5.2 ballots -------------------------------------------------------------------------


def test_a_wrong_proof(example: EncryptedBoard) -> None:
    first = example.voters[0]

    def wrong_proof(entries: Entries) -> None:
        entry = entries[kinds(entries, "ballot")[0]]
        proofs = entry["cast"]["ballot"]["encrypted"]["parc"]["cell_proofs"]
        proofs[0], proofs[1] = proofs[1], proofs[0]
        example.resign_ballot(entry, first)  # the voter signs what they altered

    assert failures(example, wrong_proof) == [
        "entry 10: encrypted ballot: question parc: cell tilleuls: zero-one proof: branch 0 "
        "fails its check against α",
        "entry 15: tally-sums not compared with the ballots: 1 ballot(s) fail",
    ]


def test_a_ciphertext_copied_under_another_token(example: EncryptedBoard) -> None:
    second = example.voters[1]

    def copy_ballot(entries: Entries) -> None:
        first_index, second_index = kinds(entries, "ballot")[:2]
        entry = entries[second_index]
        entry["cast"]["ballot"]["encrypted"] = copy.deepcopy(
            entries[first_index]["cast"]["ballot"]["encrypted"]
        )
        example.resign_ballot(entry, second)

    lines = failures(example, copy_ballot)
    assert lines[0].startswith("entry 11: encrypted ballot: question parc: cell tilleuls:")


def test_a_re_vote_with_a_lower_seq(example: EncryptedBoard) -> None:
    first = example.voters[0]

    def lower(entries: Entries) -> None:
        entry = entries[kinds(entries, "ballot")[2]]  # the re-vote, seq 2
        entry["cast"]["ballot"]["seq"] = 1
        example.resign_ballot(entry, first)

    assert "entry 12: a re-vote with seq 1 after seq 1" in failures(example, lower)


def test_a_ballot_after_the_close(example: EncryptedBoard) -> None:
    def move(entries: Entries) -> None:
        ballot = entries.pop(kinds(entries, "ballot")[-1])
        entries.insert(kinds(entries, "close")[0] + 1, ballot)

    assert "entry 14: a ballot entry after the close entry" in failures(example, move)


# -- §10.5.3 sums, §10.5.4 partial decryptions and results ------------------------------------


def test_a_wrong_sum(example: EncryptedBoard) -> None:
    def wrong_sum(entries: Entries) -> None:
        items = entries[kinds(entries, "tally-sums")[0]]["sums"]["ciphertexts"]
        items[0]["ciphertext"], items[1]["ciphertext"] = (
            items[1]["ciphertext"],
            items[0]["ciphertext"],
        )

    lines = failures(example, wrong_sum)
    assert (
        lines[0]
        == "entry 15: tally-sums: 2 sum(s) differ from the counted ballots' sums (parc/0, parc/1)"
    )


def test_a_wrong_ballot_count_in_the_sums(example: EncryptedBoard) -> None:
    def recount(entries: Entries) -> None:
        entries[kinds(entries, "tally-sums")[0]]["ballots"] = 4

    assert "entry 15: tally-sums counts 4 ballots, the board has 3" in failures(example, recount)


def test_a_wrong_partial_decryption(example: EncryptedBoard) -> None:
    def wrong_partial(entries: Entries) -> None:
        items = entries[kinds(entries, "partial-decryption")[1]]["partials"]["partials"]
        items[0]["partial"] = items[1]["partial"]

    lines = failures(example, wrong_partial)
    assert lines[0] == (
        "entry 17: trustee 3: parc/0: the partial decryption is refused: decryption proof: "
        "the response fails its check against the share"
    )
    assert lines[1] == "entry 18: 1 valid partial decryption(s), the threshold is 2"


def test_fewer_partial_decryptions_than_the_threshold(example: EncryptedBoard) -> None:
    def drop(entries: Entries) -> None:
        del entries[kinds(entries, "partial-decryption")[1]]

    assert failures(example, drop) == [
        "entry 17: 1 valid partial decryption(s), the threshold is 2"
    ]


def test_a_partial_decryption_by_someone_else(example: EncryptedBoard) -> None:
    def impostor(entries: Entries) -> None:
        document = entries[kinds(entries, "partial-decryption")[1]]["partials"]
        document["trustee"] = 2  # trustee 3's shares under trustee 2's name

    lines = failures(example, impostor)
    assert lines[0] == "entry 17: trustee 2: trustee_key is not the manifest's static key"


def test_altered_results(example: EncryptedBoard) -> None:
    def alter(entries: Entries) -> None:
        counts = entries[-1]["results"]["questions"]["parc"]["counts"]
        counts["gare"], counts["tilleuls"] = counts["tilleuls"], counts["gare"]

    assert failures(example, alter) == [
        "entry 18: the published results differ from the decrypted counts (§6)"
    ]


def test_results_listing_a_trustee_who_did_not_decrypt(example: EncryptedBoard) -> None:
    def alter(entries: Entries) -> None:
        entries[-1]["trustees"] = [1, 2]

    assert failures(example, alter) == [
        "entry 18: results.trustees [1, 2] are not 2 or more trustees with a valid partial "
        "decryption"
    ]


def test_an_election_without_ballots_has_no_sums_and_no_trustees() -> None:
    built = EncryptedBoard.create(seed=b"no ballots")
    built.close()
    report = verify_board(built.export(), workers=1)
    assert (report.counted_ballots, report.recounted) == (0, True)
    assert "tally-sums" not in [e["kind"] for e in built.entries]


# -- the log and hostile input ---------------------------------------------------------------


def test_an_entry_altered_without_re_signing_breaks_the_checkpoints(
    example: EncryptedBoard,
) -> None:
    export = copy.deepcopy(example.export())
    export["entries"][9]["tokens_issued"] = 1
    with pytest.raises(EncryptedBoardError) as raised:
        verify_board(export, workers=1)
    assert raised.value.failures == [
        "checkpoint 1: its root for size 12 is not the root of the entries (an entry was "
        "altered, removed, added or reordered)",
        "checkpoint 2: its root for size 19 is not the root of the entries (an entry was "
        "altered, removed, added or reordered)",
    ]


HOSTILE: list[object] = [None, 0, -1, True, "", "zz", [], {}, [[[]]], {"kind": None}, 2**70, 1.5]


def test_hostile_values_anywhere_fail_in_lines_never_a_traceback(
    example: EncryptedBoard,
) -> None:
    rng = random.Random(7)
    export = example.export()
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            paths.append((node, key))
            if isinstance(value, dict | list):
                walk(value)

    for _ in range(40):
        mutated = copy.deepcopy(export)
        paths.clear()
        walk(mutated)
        node, key = rng.choice(paths)
        node[key] = rng.choice(HOSTILE)
        with pytest.raises(BoardVerificationError) as raised:
            verify_board(mutated, workers=1)
        assert isinstance(raised.value, EncryptedBoardError), raised.value
        assert raised.value.failures


def test_the_command_prints_one_line_per_failure(
    example: EncryptedBoard, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = copy.deepcopy(example.entries)
    entries[-1]["publication"] = "individual"
    del entries[kinds(entries, "partial-decryption")[0]]
    path = tmp_path / "board.json"
    path.write_text(json.dumps(example.resigned(entries)))
    assert main([str(path), "--workers", "1"]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.splitlines() == [
        "FAILED: entry 17: the publication of an encrypted election is 'encrypted'",
        "FAILED: entry 17: 1 valid partial decryption(s), the threshold is 2",
    ]


def test_a_larger_board_with_re_votes_verifies_in_two_processes() -> None:
    built = build_board(12, revoters=3, seed=b"twelve")
    report = verify_board(built.export(), workers=2, chunk=2)
    assert (report.ballots_on_board, report.counted_ballots) == (15, 12)
    assert report.recounted


def test_a_published_count_above_the_ballots_shown_does_not_bound_the_decryption(
    example: EncryptedBoard,
) -> None:
    # With a ballot at fault the results are checked against the published count; one above
    # the ballots on the board would make baby-step giant-step enormous: it is not used.
    def inflate(entries: Entries) -> None:
        entries[kinds(entries, "ballot")[0]]["cast"]["ballot"]["seq"] = 9
        entries[kinds(entries, "tally-sums")[0]]["ballots"] = 10**12

    assert failures(example, inflate) == [
        "entry 10: ballot signature does not verify",
        "entry 15: tally-sums not compared with the ballots: 1 ballot(s) fail",
    ]


def test_more_ballots_than_tokens_issued(example: EncryptedBoard) -> None:
    def fewer_tokens(entries: Entries) -> None:
        for index in (*kinds(entries, "close"), *kinds(entries, "results")):
            entries[index]["tokens_issued"] = 2

    assert failures(example, fewer_tokens) == ["3 ballots counted but only 2 tokens issued"]


def test_paper_ballots_are_carried_by_the_results() -> None:
    built = EncryptedBoard.create(seed=b"paper", paper=True)
    voter = built.voting_right()
    built.cast(voter, {"parc": "gare", "budget": ["velos"]})
    counts = {"parc": {"tilleuls": 4, "gare": 1}, "budget": {"jardin": 2}}
    built.close(paper=(5, counts))
    report = verify_board(built.export(), workers=1)
    assert report.recounted
    assert [e["kind"] for e in built.entries[-6:-3]] == ["close", "paper", "tally-sums"]

    entries = copy.deepcopy(built.entries)
    entries[-1]["paper"]["voters"] = 6
    with pytest.raises(EncryptedBoardError) as raised:
        verify_board(built.resigned(entries), workers=1)
    assert raised.value.failures == [
        f"entry {len(entries) - 1}: results do not carry the paper counts"
    ]


def test_a_paper_entry_without_a_paper_channel(example: EncryptedBoard) -> None:
    def add_paper(entries: Entries) -> None:
        entries.insert(15, {"kind": "paper", "voters": 1, "counts": {}})

    assert failures(example, add_paper)[0] == (
        "entry 15: a paper entry but the manifest has no paper channel"
    )


def _swap(entries: Entries, first: int, second: int) -> None:
    entries[first], entries[second] = entries[second], entries[first]


ORDER_FAULTS: dict[str, tuple[Callable[[Entries], None], str]] = {
    "a second round-1 message from one trustee": (
        lambda e: e.insert(3, copy.deepcopy(e[1])),
        "entry 3: a second dkg-round1 from participant 3 (entry 1)",
    ),
    "a signature before every round-1 message": (
        lambda e: _swap(e, 3, 4),
        "entry 3: a dkg-signature before all 3 round-1 entries of its attempt",
    ),
    "the manifest not right after dkg-complete": (
        lambda e: e.insert(8, {"kind": "issuance", "day": "2026-03-01", "tokens_issued": 0}),
        "entry 8: an issuance entry before the manifest",
    ),
    "a partial decryption before the sums": (
        lambda e: _swap(e, 15, 16),
        "entry 15: a partial-decryption before tally-sums",
    ),
    "an entry after the results": (
        lambda e: e.append({"kind": "paper", "voters": 1, "counts": {}}),
        "entry 19: an entry after the results",
    ),
    "a withheld entry": (
        lambda e: e.insert(14, {"withheld": b64u_encode(bytes(32))}),
        "entry 14: nothing is withheld on an encrypted board (§10.1)",
    ),
    "an unknown kind": (
        lambda e: e.insert(14, {"kind": "comment", "text": "hello"}),
        "entry 14: unknown entry kind 'comment'",
    ),
    "a member too many": (
        lambda e: e[14].update(note="late"),
        "entry 14: a close entry has exactly the members ['closed_at', 'kind', 'tokens_issued']",
    ),
}


@pytest.mark.parametrize("fault", sorted(ORDER_FAULTS))
def test_kinds_and_order(example: EncryptedBoard, fault: str) -> None:
    alter, line = ORDER_FAULTS[fault]
    assert line in failures(example, alter)


def test_a_board_still_open_verifies_what_it_holds(example: EncryptedBoard) -> None:
    # The live board is public from entry 0 (§10.1): ceremony, manifest and ballots so far.
    entries = copy.deepcopy(example.entries[: kinds(example.entries, "close")[0]])
    entries.append({"kind": "issuance", "day": "2026-03-02", "tokens_issued": 3})
    report = verify_board(example.resigned(entries), workers=1)
    assert (report.entries, report.ballots_on_board, report.counted_ballots) == (15, 4, 3)
    assert (report.tokens_issued, report.recounted) == (3, False)
    # As in version 1, the last issuance count bounds the ballots counted so far (§8.6).
    with pytest.raises(EncryptedBoardError) as raised:
        verify_board(example.resigned(entries[:-1]), workers=1)
    assert raised.value.failures == ["3 ballots counted but only 2 tokens issued"]

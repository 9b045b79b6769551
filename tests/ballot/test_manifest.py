"""The election manifest: strict parsing, self-consistency, canonical form."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
import rfc8785

from ballot.board import (
    InvalidEntryError,
    manifest_entry,
    normalise_tracking_code,
    tracking_code,
)
from ballot.manifest import InvalidManifestError, Manifest, manifest_hash, terms_hash
from ballot.questions import InvalidQuestionError
from tests.support.boards import BoardBuilder


@pytest.fixture(scope="module")
def manifest_json() -> dict[str, Any]:
    return BoardBuilder.create().manifest.to_json()


def test_round_trip_and_canonical_form(manifest_json: dict[str, Any]) -> None:
    manifest = Manifest.from_json(manifest_json)
    assert manifest.to_json() == manifest_json
    assert manifest.canonical_bytes() == rfc8785.dumps(manifest_json)
    assert manifest_entry(manifest) == {"kind": "manifest", "manifest": manifest_json}
    assert manifest.public_key().key_size == 2048


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(format="v0"), "manifest format must be"),
        (lambda m: m.pop("revote"), "exactly the members"),
        (lambda m: m.update(extra=1), "exactly the members"),
        (lambda m: m["issuer"].update(key_id="A" * 43), "key_id is not SHA-256"),
        (
            lambda m: m["issuer"].update(variant="RSABSSA-SHA384-PSSZERO-Deterministic"),
            "issuer.variant must be",
        ),
        (lambda m: m.update(closes_at=m["opens_at"]), "closes after it opens"),
        (lambda m: m.update(opens_at="2026-03-01 08:00"), "must look like"),
        (lambda m: m.update(revote="yes"), "revote must be true or false"),
        (lambda m: m.update(min_anonymity_set=0), "min_anonymity_set must be an integer ≥ 1"),
        (lambda m: m["eligibility"].update(population=-1), "population must be an integer"),
        (lambda m: m["board"].update(origin="another/origin"), "board key's name"),
        (lambda m: m.update(election="not-a-uuid"), "not a UUID"),
        (lambda m: m.update(questions=[]), "between 1 and 50 questions"),
    ],
)
def test_bad_manifests_are_refused(
    manifest_json: dict[str, Any], change: Any, message: str
) -> None:
    bad = copy.deepcopy(manifest_json)
    change(bad)
    with pytest.raises((InvalidManifestError, InvalidQuestionError), match=message):
        Manifest.from_json(bad)


def test_tracking_codes() -> None:
    code = tracking_code(bytes(range(32)))
    assert len(code) == 19
    assert code.count("-") == 3
    assert normalise_tracking_code(code.lower().replace("-", "")) == code
    with pytest.raises(InvalidEntryError, match="16 letters"):
        normalise_tracking_code("ABC")


# -- version 2 (board-format.md §10.2) ----------------------------------------------------


@pytest.fixture(scope="module")
def manifest_v2(manifest_json: dict[str, Any]) -> dict[str, Any]:
    from ballot.ceremony import encryption_of
    from ballot.ceremony_local import run_local_ceremony

    terms = Manifest.from_json(manifest_json).terms_json()
    local = run_local_ceremony(
        election=manifest_json["election"],
        threshold=2,
        labels=["Mairie", "Opposition", "Société civile"],
        manifest_hash=terms_hash(terms),
    )
    return Manifest.from_terms(terms).with_encryption(encryption_of(local.ceremony)).to_json()


def test_v2_round_trip_and_hashes(
    manifest_json: dict[str, Any], manifest_v2: dict[str, Any]
) -> None:
    manifest = Manifest.from_json(manifest_v2)
    assert manifest.to_json() == manifest_v2
    assert manifest_v2["format"] == "parvis-manifest-v2"
    encryption = manifest_v2["encryption"]
    assert set(encryption) == {
        "group", "ceremony", "joint_key", "threshold", "attempt", "transcript_sha512", "trustees",
    }  # fmt: skip
    assert encryption["group"] == "ed25519"
    assert encryption["ceremony"] == "COCKTAIL(Ed25519, SHA-512)"
    assert [set(t) for t in encryption["trustees"]] == [{"label", "static_key", "public_share"}] * 3
    # SHA-256(JCS(manifest)) and SHA-256(JCS(manifest without "encryption")).
    assert manifest_hash(manifest_v2) == hashlib.sha256(rfc8785.dumps(manifest_v2)).digest()
    terms = {k: v for k, v in manifest_v2.items() if k != "encryption"}
    assert terms_hash(manifest_v2) == hashlib.sha256(rfc8785.dumps(terms)).digest()
    assert manifest.terms_json() == terms
    assert manifest.hash() == manifest_hash(manifest_v2)
    # v1 is unchanged: same members, no encryption.
    assert Manifest.from_json(manifest_json).to_json() == manifest_json
    assert Manifest.from_json(manifest_json).encryption is None


#: The identity point's encoding: a small-order point, which the group refuses.
SMALL_ORDER = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("encryption"), "exactly the members"),
        (lambda m: m["encryption"].pop("attempt"), "manifest.encryption must have exactly"),
        (lambda m: m["encryption"].update(extra=1), "manifest.encryption must have exactly"),
        (lambda m: m["encryption"].update(group="ristretto255"), "encryption.group must be"),
        (lambda m: m["encryption"].update(ceremony="FROST"), "encryption.ceremony must be"),
        (lambda m: m["encryption"].update(threshold=4), "threshold is from 1"),
        (lambda m: m["encryption"].update(threshold=0), "encryption.threshold must be"),
        (lambda m: m["encryption"].update(attempt=0), "encryption.attempt must be"),
        (lambda m: m["encryption"].update(joint_key="AAAA"), "encryption.joint_key"),
        (lambda m: m["encryption"].update(joint_key=SMALL_ORDER), "encryption.joint_key"),
        (lambda m: m["encryption"]["trustees"][2].update(public_share=SMALL_ORDER),
         r"trustees\[2\].public_share"),
        (lambda m: m["encryption"].update(joint_key=m["encryption"]["joint_key"] + "="),
         "base64url"),
        (lambda m: m["encryption"].update(transcript_sha512="AAAA"), "64 bytes"),
        (lambda m: m["encryption"].update(trustees=[]), "at least one trustee"),
        (lambda m: m["encryption"].update(trustees={}), "must be a list"),
        (lambda m: m["encryption"]["trustees"][0].pop("public_share"), r"trustees\[0\]"),
        (lambda m: m["encryption"]["trustees"][1].update(label=3), r"trustees\[1\].label"),
        (lambda m: m["encryption"]["trustees"][1].update(label=""), "non-empty"),
        (lambda m: m["encryption"]["trustees"][1].update(
            static_key=m["encryption"]["trustees"][0]["static_key"]), "share a static key"),
        (lambda m: m.update(format="parvis-manifest-v1"), "exactly the members"),
    ],
)  # fmt: skip
def test_bad_v2_manifests_are_refused(
    manifest_v2: dict[str, Any], change: Any, message: str
) -> None:
    bad = copy.deepcopy(manifest_v2)
    change(bad)
    with pytest.raises(InvalidManifestError, match=message):
        Manifest.from_json(bad)


def test_a_v1_manifest_with_encryption_is_refused(
    manifest_json: dict[str, Any], manifest_v2: dict[str, Any]
) -> None:
    with pytest.raises(InvalidManifestError, match="exactly the members"):
        Manifest.from_json({**manifest_json, "encryption": manifest_v2["encryption"]})
    with pytest.raises(InvalidManifestError, match="terms of an encrypted election"):
        Manifest.from_terms(manifest_json)
    with pytest.raises(InvalidManifestError, match="the terms have exactly"):
        Manifest.from_terms(manifest_v2)

"""The election manifest: strict parsing, self-consistency, canonical form."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import rfc8785

from ballot.board import (
    InvalidEntryError,
    manifest_entry,
    normalise_tracking_code,
    tracking_code,
)
from ballot.manifest import InvalidManifestError, Manifest
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

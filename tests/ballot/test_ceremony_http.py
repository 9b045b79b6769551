"""The key ceremony through HTTP, as trustees and the officer do it (docs/ballot-api.md,
"Key ceremony"; docs/adr/0018-encrypted-elections.md), on SQLite and PostgreSQL: each
message checked on arrival and refused as problem+json naming the fault, nothing appended;
one trustee cannot send for another; the election opens with the v2 manifest."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ballot.ceremony_local import new_static_keys, run_ceremony
from ballot.manifest import Manifest, terms_hash
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Staff
from tests.ballot.elections import AGENT, OFFICER, session_cookie, setup_rule
from tests.ballot.encrypted import encrypted_definition, make_trustees

PROBLEM = "tag:parvis.fr,2026:problem/"


def as_(client: TestClient, ctx: AppContext, who: Staff) -> dict[str, str]:
    name, value = session_cookie(ctx, who)
    return {"Cookie": f"{name}={value}"}


def ok(response: Any) -> Any:
    assert response.status_code in {200, 201}, response.text
    return response.json()


def problem(response: Any, status: int, slug: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == PROBLEM + slug, body
    return str(body["detail"])


def _flip(hex_text: str) -> str:
    raw = bytearray(bytes.fromhex(hex_text))
    raw[-1] ^= 1
    return raw.hex()


def test_trustees_run_the_ceremony_over_http(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    trustees = make_trustees(ctx, 3)
    officer = as_(client, ctx, OFFICER)
    heads = [as_(client, ctx, t.principal) for t in trustees]
    agent = as_(client, ctx, AGENT)
    election = ok(
        client.post(
            "/elections", json=encrypted_definition(clock, trustees, threshold=2), headers=officer
        )
    )["id"]
    ok(client.post(f"/elections/{election}/schedule", headers=officer))
    base = f"/elections/{election}/ceremony"

    # Who may do what.
    problem(client.get(base), 401, "unauthenticated")
    problem(client.get(base, headers=agent), 403, "forbidden")
    assert ok(client.get(base, headers=officer))["step"] == "keys"
    statics = new_static_keys(3)
    problem(
        client.post(
            f"{base}/static-key",
            json={"static_key": statics[0].public.encoded.hex()},
            headers=officer,
        ),
        403,
        "forbidden",
    )
    outsider = make_trustees(ctx, 1)[0]
    detail = problem(
        client.post(
            f"{base}/static-key",
            json={"static_key": statics[0].public.encoded.hex()},
            headers=as_(client, ctx, outsider.principal),
        ),
        403,
        "not-a-trustee",
    )
    assert "not a trustee of this election" in detail
    problem(
        client.post(f"{base}/static-key", json={"static_key": "zz"}, headers=heads[0]),
        422,
        "invalid-ceremony-message",
    )
    problem(client.post(f"{base}/start", json={}, headers=officer), 409, "ceremony-state")
    for head, static in zip(heads, statics, strict=True):
        ok(
            client.post(
                f"{base}/static-key", json={"static_key": static.public.encoded.hex()}, headers=head
            )
        )
    problem(client.post(f"{base}/start", json={}, headers=heads[0]), 403, "forbidden")
    problem(client.post(f"/elections/{election}/open", headers=officer), 409, "election-state")

    setup = ok(client.post(f"{base}/start", json={}, headers=officer))
    assert setup["format"] == "parvis-dkg-setup-v1"
    assert [p["label"] for p in setup["participants"]] == [
        "Mairie", "Opposition", "Société civile",
    ]  # fmt: skip
    for head in heads:
        assert ok(client.get(f"{base}/setup.json", headers=head)) == setup
    problem(client.get(f"{base}/round1s.json", headers=heads[0]), 409, "ceremony-state")

    ceremony = run_ceremony(setup, statics)
    round1 = ceremony.document["round1"]
    signatures = ceremony.document["signatures"]
    # A bad envelope signature: refused, naming the participant and the fault.
    bad = {**round1[0], "signature": _flip(round1[0]["signature"])}
    detail = problem(
        client.post(f"{base}/round1", json=bad, headers=heads[0]), 422, "invalid-ceremony-message"
    )
    assert "participant 1: the round-1 envelope signature does not verify" in detail
    # Another trustee's message, sent by trustee 1.
    detail = problem(
        client.post(f"{base}/round1", json=round1[1], headers=heads[0]),
        422,
        "invalid-ceremony-message",
    )
    assert "only their own" in detail
    assert ok(client.get(base, headers=officer))["trustees"][0]["round1"] is False
    for i, head in enumerate(heads):
        state = ok(client.post(f"{base}/round1", json=round1[i], headers=head))
        assert state["participant"] == i + 1
    problem(client.post(f"{base}/round1", json=bad, headers=heads[0]), 409, "ceremony-state")
    assert state["step"] == "signatures"
    round1s = ok(client.get(f"{base}/round1s.json", headers=heads[2]))
    assert round1s == {k: v for k, v in ceremony.document.items() if k != "signatures"}

    detail = problem(
        client.post(f"{base}/signature", json=signatures[1], headers=heads[0]),
        422,
        "invalid-ceremony-message",
    )
    assert "only their own" in detail
    wrong = {**signatures[0], "transcript_sha512": "00" * 64}
    detail = problem(
        client.post(f"{base}/signature", json=wrong, headers=heads[0]),
        422,
        "invalid-ceremony-message",
    )
    assert "another transcript" in detail
    for i, head in enumerate(heads):
        state = ok(client.post(f"{base}/signature", json=signatures[i], headers=head))
    assert state["step"] == "complete"
    assert state["complete"]["group_key"] == ceremony.group_key.encoded.hex()
    problem(
        client.post(f"{base}/signature", json=signatures[0], headers=heads[0]),
        409,
        "ceremony-state",
    )
    assert ok(client.get(f"{base}/ceremony.json", headers=heads[1])) == ceremony.document

    opened = ok(client.post(f"/elections/{election}/open", headers=officer))
    assert opened["status"] == "open"
    assert opened["mode"] == "encrypted"
    manifest = ok(client.get(f"/elections/{election}/manifest"))
    assert manifest["format"] == "parvis-manifest-v2"
    assert bytes.fromhex(setup["manifest_hash"]) == terms_hash(manifest)
    parsed = Manifest.from_json(manifest)
    assert parsed.encryption is not None
    assert parsed.encryption.joint_key == ceremony.group_key


def test_the_officer_imports_a_ceremony_over_http(
    app: FastAPI, client: TestClient, clock: FixedClock
) -> None:
    ctx: AppContext = app.state.ctx
    setup_rule(ctx)
    trustees = make_trustees(ctx, 2)
    officer = as_(client, ctx, OFFICER)
    election = ok(
        client.post(
            "/elections", json=encrypted_definition(clock, trustees, threshold=1), headers=officer
        )
    )["id"]
    ok(client.post(f"/elections/{election}/schedule", headers=officer))
    statics = new_static_keys(2)
    base = f"/elections/{election}/ceremony"
    keys = [s.public.encoded.hex() for s in statics]
    problem(
        client.post(f"{base}/start", json={"static_keys": keys[:1]}, headers=officer),
        422,
        "invalid-ceremony-message",
    )
    setup = ok(client.post(f"{base}/start", json={"static_keys": keys}, headers=officer))
    document = run_ceremony(setup, statics).document
    trustee = as_(client, ctx, trustees[0].principal)
    problem(client.post(f"{base}/import", json=document, headers=trustee), 403, "forbidden")
    broken = {**document, "signatures": document["signatures"][:1]}
    detail = problem(
        client.post(f"{base}/import", json=broken, headers=officer), 422, "invalid-ceremony-message"
    )
    assert "lacks 1 of 2 signatures" in detail
    assert ok(client.get(base, headers=officer))["step"] == "round1"
    assert ok(client.post(f"{base}/import", json=document, headers=officer))["step"] == "complete"
    assert ok(client.post(f"/elections/{election}/open", headers=officer))["status"] == "open"
    # The ceremony's files are for staff only.
    problem(client.get(f"/elections/{election}/ceremony/setup.json"), 401, "unauthenticated")

// Obtaining the voting right, shared by the booth (web/src/booth.ts, at open) and the
// election page's "get my voting right now, vote later on this device" (web/src/election.ts):
// voting-protocol.md "Token issuance" — the eligibility check with the session, RFC 9474
// Prepare/Blind on the device, then (ballot-secrecy.md §3) the blinded message sent first
// to POST /elections/{id}/issuance, the blinding state kept in IndexedDB, the browser sent
// through FranceConnect with the nonce that binds this election and this blinded message;
// back in the booth, POST /elections/{id}/tokens with the session and the CSRF header,
// Finalize (which verifies), and the right stored in IndexedDB (web/src/store.ts).
//
// Why early: ballot-secrecy.md §2 — issuing the right when the citizen opens the election,
// and casting only after the ballot is filled plus a random wait, leaves no time link
// between the two requests. A right is issued once per citizen and election: the right is
// stored before this resolves, and a Web Lock keeps two tabs from asking twice.

import { ApiError, fetchJson, type Messages } from './dom.js';
import { b64uDecode, b64uEncode } from './lib/bytes.js';
import { beginIssuance, resumeIssuance, type PendingIssuance } from './lib/issuance.js';
import { ReceiptError } from './lib/receipt.js';
import type { VotingRight } from './lib/right.js';
import * as store from './store.js';

export interface Eligibility {
  eligible: boolean;
  reasons: string[];
  token_issued: boolean;
  paper_vote: boolean;
}

export interface RightEndpoints {
  election: string;
  eligibilityUrl: string;
  tokensUrl: string;
  csrf: string;
}

export interface Obtained {
  right: VotingRight;
  /** False when this browser could not store it (it is then only in this page's memory). */
  stored: boolean;
  /** True when the right was already on this device (nothing was requested). */
  existing: boolean;
}

/** Run `task` holding this election's right lock (when the browser has Web Locks). */
async function withLock<T>(election: string, task: () => Promise<T>): Promise<T> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  if (!locks) return task();
  return locks.request(`parvis:right:${election}`, task);
}

/**
 * The stored right for `ep.election`, or a new one obtained now and stored.
 * `progress` receives the message keys 'checkingEligibility' and 'preparingRight'.
 * Throws ApiError ('not-eligible', 'token-already-issued', 'paper-vote-recorded', or the
 * server's problem) when no right can be had.
 */
export function obtainRight(spki: Uint8Array, ep: RightEndpoints, progress: (key: string) => void): Promise<Obtained> {
  return withLock(ep.election, async () => {
    const existing = await store.loadRight(ep.election);
    if (existing) return { right: existing, stored: true, existing: true };
    const kept = await store.loadPendingIssuance(ep.election);
    if (kept !== undefined) {
      // Back from FranceConnect: finish the issuance begun before the round trip.
      progress('preparingRight');
      try {
        const pending = await resumeIssuance(spki, ep.election, kept);
        return await finishIssuance(pending, ep);
      } catch (err) {
        await store.deletePendingIssuance(ep.election);
        // Its authentication was used or never made: start again below; anything else
        // (a refusal, a network error) is the caller's to show.
        if (!(err instanceof ApiError && err.slug === 'issuance-authentication-required')) throw err;
      }
    }
    progress('checkingEligibility');
    const eligibility = await fetchJson<Eligibility>(ep.eligibilityUrl, { credentials: 'same-origin' });
    if (!eligibility.eligible) {
      if (eligibility.token_issued) throw new ApiError(409, 'token-already-issued', '');
      if (eligibility.paper_vote) throw new ApiError(409, 'paper-vote-recorded', '');
      throw new ApiError(403, 'not-eligible', eligibility.reasons.join(', '));
    }
    progress('preparingRight');
    void store.askPersistence();
    const pending = await beginIssuance(spki, ep.election);
    if (!(await store.savePendingIssuance(ep.election, pending.state))) {
      throw new Error('this browser cannot keep the voting right during the FranceConnect sign-in');
    }
    const started = await fetchJson<{ authorize_url: string }>(issuanceUrl(ep), {
      method: 'POST',
      // FranceConnect sends the browser back to this page, which finishes the issuance.
      body: { blinded_msg: b64uEncode(pending.blindedMsg), return_to: window.location.pathname },
      credentials: 'same-origin',
      headers: ep.csrf ? { 'X-CSRF-Token': ep.csrf } : {},
    });
    // FranceConnect authenticates the citizen for this blinded message (its single sign-on
    // makes it a pair of redirects) and sends the browser back to the booth, which comes
    // here again and finishes above. The page is leaving: nothing more to resolve.
    window.location.assign(started.authorize_url);
    return new Promise<Obtained>(() => undefined);
  });
}

/** POST …/issuance sits beside POST …/tokens (docs/ballot-api.md). */
function issuanceUrl(ep: RightEndpoints): string {
  return ep.tokensUrl.replace(/\/tokens$/, '/issuance');
}

async function finishIssuance(pending: PendingIssuance, ep: RightEndpoints): Promise<Obtained> {
  const answer = await fetchJson<{ blind_sig: string }>(ep.tokensUrl, {
    method: 'POST',
    body: { blinded_msg: b64uEncode(pending.blindedMsg) },
    credentials: 'same-origin',
    headers: ep.csrf ? { 'X-CSRF-Token': ep.csrf } : {},
  });
  const right = await pending.finish(b64uDecode(answer.blind_sig, 'blind_sig'));
  const stored = await store.saveRight(right);
  if (stored) await store.deletePendingIssuance(ep.election);
  return { right, stored, existing: false };
}

/** The page's message for a failed request or check (keys of ballot/booth_pages.py). */
export function apiMessage(m: Messages, err: unknown): string {
  if (err instanceof ApiError) {
    const known: Record<string, string> = {
      'not-eligible': 'notEligible',
      'token-already-issued': 'tokenAlreadyIssued',
      'paper-vote-recorded': 'paperVote',
      'election-state': 'electionNotOpen',
      'token-already-used': 'alreadyVotedNoCode',
      'stale-revote': 'staleRevote',
      'invalid-ballot': 'serverRefusedBallot',
      'invalid-ballot-proof': 'ballotProofRefused',
      'rate-limited': 'rateLimited',
      'unauthenticated': 'signInFirst',
      'network': 'network',
    };
    const key = known[err.slug];
    return key ? m.t(key) : m.t('serverError', { detail: err.detail });
  }
  if (err instanceof ReceiptError) return m.t('receiptMismatch', { detail: err.message });
  return m.t('deviceError', { detail: err instanceof Error ? err.message : String(err) });
}

/** No voting right can be had on this device: trying again would change nothing. */
export function definitiveRefusal(err: unknown): boolean {
  return (
    err instanceof ApiError &&
    ['not-eligible', 'token-already-issued', 'paper-vote-recorded', 'election-state', 'token-already-used'].includes(err.slug)
  );
}

/** HH:MM in the device's local time zone (`appears_at` is UTC on the wire). */
export function clockTime(epochMs: number, lang: string): string {
  return new Date(epochMs).toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' });
}

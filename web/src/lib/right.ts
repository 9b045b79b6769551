// The voting right kept on the voter's device, and signing ballots with it.
//
// voting-protocol.md, "Token issuance" step 5: after Finalize the device keeps
// (msg_prefix, msg, sig, sk) — the voting right. Its JSON form is exactly the Python
// client's (ballot/client.py VotingRight.to_json, format "parvis-voting-right-v1"), so a
// right exported from the browser can be used by the Python voter client and vice versa.

import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';

import { b64uDecode, b64uEncode, equalBytes } from './bytes.js';
import { canonical, type Json } from './jcs.js';
import { leafHash } from './merkle.js';
import { electionIdBytes, parseTokenMessage } from './token.js';

ed.hashes.sha512 = sha512;

export const VOTING_RIGHT_FORMAT = 'parvis-voting-right-v1';
/** RFC 8785 (I-JSON) integers are exact up to 2^53 - 1; so is seq (ballot/token.py MAX_SEQ). */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;

export interface TokenJson {
  msg_prefix: string;
  msg: string;
  sig: string;
}

export interface VotingRight {
  format: typeof VOTING_RIGHT_FORMAT;
  election: string;
  token: TokenJson;
  signing_key: string;
  last_seq: number;
}

/** A ballot: clear `choices` (docs/board-format.md §4) or, in an encrypted election, the
 *  `encrypted` wire form (§10.3, web/src/lib/encrypted_ballot.ts) — never both. */
export type BallotJson =
  | { election: string; seq: number; choices: { [question: string]: Json } }
  | { election: string; seq: number; encrypted: { [question: string]: Json } };

/** What a ballot says, without its election and seq (which signBallot adds). */
export type BallotContent = { choices: { [question: string]: Json } } | { encrypted: { [question: string]: Json } };

export interface CastRequest {
  token: TokenJson;
  ballot: BallotJson;
  ballot_sig: string;
}

export class VotingRightError extends Error {
  override name = 'VotingRightError';
}

function exactMembers(obj: unknown, names: string[], what: string): Record<string, unknown> {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new VotingRightError(`${what} is not an object`);
  const keys = Object.keys(obj).sort();
  if (keys.join(',') !== [...names].sort().join(',')) throw new VotingRightError(`${what} has unexpected members`);
  return obj as Record<string, unknown>;
}

/** Check a stored right strictly (as VotingRight.from_json does) and return it typed. */
export function parseVotingRight(obj: unknown, election: string): VotingRight {
  const right = exactMembers(obj, ['format', 'election', 'token', 'signing_key', 'last_seq'], 'voting right');
  if (right.format !== VOTING_RIGHT_FORMAT) throw new VotingRightError('unknown voting right format');
  if (right.election !== election) throw new VotingRightError('the voting right is for another election');
  const token = exactMembers(right.token, ['msg_prefix', 'msg', 'sig'], 'token');
  for (const name of ['msg_prefix', 'msg', 'sig']) {
    if (typeof token[name] !== 'string') throw new VotingRightError(`token.${name} is not text`);
  }
  const msg = b64uDecode(token.msg as string, 'token.msg');
  const parts = parseTokenMessage(msg);
  if (!equalBytes(parts.electionId, electionIdBytes(election))) {
    throw new VotingRightError('the token was issued for another election');
  }
  if (b64uDecode(token.msg_prefix as string, 'token.msg_prefix').length !== 32) {
    throw new VotingRightError('token.msg_prefix is not 32 bytes');
  }
  b64uDecode(token.sig as string, 'token.sig');
  if (typeof right.signing_key !== 'string') throw new VotingRightError('signing_key is not text');
  const seed = b64uDecode(right.signing_key, 'signing_key');
  if (seed.length !== 32 || !equalBytes(ed.getPublicKey(seed), parts.voterKey)) {
    throw new VotingRightError("the signing key does not match the token's voter key");
  }
  const lastSeq = right.last_seq;
  if (typeof lastSeq !== 'number' || !Number.isSafeInteger(lastSeq) || lastSeq < 0) {
    throw new VotingRightError('last_seq is not a sequence number');
  }
  return right as unknown as VotingRight;
}

/** The ballot's Ed25519 public key vk, from the right's token message (§4): the key every
 *  proof of an encrypted ballot is bound to (§10.3). */
export const rightVoterKey = (right: VotingRight): Uint8Array =>
  parseTokenMessage(b64uDecode(right.token.msg, 'token.msg')).voterKey;

/** The JCS bytes that ballot_sig signs (docs/board-format.md §4). */
export const ballotBytes = (ballot: BallotJson): Uint8Array => canonical(ballot as unknown as Json);

/**
 * Sign a ballot (its clear choices, or its encrypted form in an encrypted election) with the
 * right's ephemeral key (RFC 8032 §5.1.6 Ed25519 over JCS(ballot)).
 * `seq` is last_seq + 1: the ballot box keeps the highest seq per token (re-voting).
 * Returns the cast request and the right to store (last_seq = seq) — store it BEFORE
 * sending, so that a re-vote after an uncertain outcome always uses a higher seq.
 */
export function signBallot(right: VotingRight, content: BallotContent): { request: CastRequest; right: VotingRight } {
  const seq = right.last_seq + 1;
  if (seq > MAX_SEQ) throw new VotingRightError('no sequence number left');
  const ballot: BallotJson =
    'encrypted' in content ? { election: right.election, seq, encrypted: content.encrypted } : { election: right.election, seq, choices: content.choices };
  const signature = ed.sign(ballotBytes(ballot), b64uDecode(right.signing_key, 'signing_key'));
  return {
    request: { token: { ...right.token }, ballot, ballot_sig: b64uEncode(signature) },
    right: { ...right, last_seq: seq },
  };
}

/** The leaf hash the board gives this cast: SHA-256(0x00 ‖ JCS({"kind": "ballot", "cast": …})). */
export function castLeafHash(request: CastRequest): Uint8Array {
  return leafHash(canonical({ kind: 'ballot', cast: request as unknown as Json }));
}

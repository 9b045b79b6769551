// Obtaining a voting right: voting-protocol.md "Token issuance" steps 1-5 on the voter's
// device, with RFC 9474 RSABSSA-SHA384-PSS-Randomized from @cloudflare/blindrsa-ts.
//
// The device refuses to blind unless the key it was given is the key committed in the
// election manifest (entry 0 of the board) AND the key id the booth page was served with:
// a key personal to one voter would let the issuer recognise that voter's token when it is
// spent ("tagging"). The comparison happens before any secret is generated or sent.

import { RSABSSA } from '@cloudflare/blindrsa-ts';
import * as ed from '@noble/ed25519';
import { sha256, sha512 } from '@noble/hashes/sha2.js';

import { b64uDecode, b64uEncode, equalBytes } from './bytes.js';
import { VOTING_RIGHT_FORMAT, type VotingRight } from './right.js';
import { electionIdBytes, tokenMessage, TOKEN_VARIANT } from './token.js';

ed.hashes.sha512 = sha512;

export class UncommittedKeyError extends Error {
  override name = 'UncommittedKeyError';
}

export interface ManifestIssuer {
  spki: string;
  key_id: string;
  variant: string;
}

/** The manifest formats the booth knows (docs/board-format.md §3 and §10.2). */
export const MANIFEST_FORMATS: readonly string[] = ['parvis-manifest-v1', 'parvis-manifest-v2'];

/** What the booth needs from the manifest (docs/board-format.md §3). */
export interface ManifestLike {
  format: string;
  election: string;
  issuer: ManifestIssuer;
  board: { origin: string; key: string };
  revote: boolean;
}

/**
 * The committed issuer key: refuse unless SHA-256(spki) = manifest key_id = `pageKeyId`
 * and the manifest is this election's (RFC 9474 §7.3 on key consistency for blind
 * signatures; voting-protocol.md "Keys and the bulletin board").
 */
export function committedKey(manifest: ManifestLike, election: string, pageKeyId: string): Uint8Array {
  // v1: public-ballot elections (§3); v2: encrypted elections (§10.2), same issuer member.
  if (!MANIFEST_FORMATS.includes(manifest.format)) throw new UncommittedKeyError('not a Parvis manifest');
  if (manifest.election !== election) throw new UncommittedKeyError('the manifest is for another election');
  if (manifest.issuer.variant !== TOKEN_VARIANT) throw new UncommittedKeyError(`the variant is not ${TOKEN_VARIANT}`);
  const spki = b64uDecode(manifest.issuer.spki, 'issuer.spki');
  const digest = sha256(spki);
  if (!equalBytes(digest, b64uDecode(manifest.issuer.key_id, 'issuer.key_id'))) {
    throw new UncommittedKeyError('the manifest key id is not SHA-256 of its key');
  }
  if (!equalBytes(digest, b64uDecode(pageKeyId, 'page key id'))) {
    throw new UncommittedKeyError('the key id differs from the one this page was served with');
  }
  return spki;
}

export type RandomBytes = (n: number) => Uint8Array;
export const systemRandom: RandomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));

/** RSA-PSS SHA-384 public key for blindrsa-ts, which needs it extractable (it reads n, e). */
export async function importIssuerKey(spki: Uint8Array): Promise<CryptoKey> {
  const key = await crypto.subtle.importKey('spki', spki as BufferSource, { name: 'RSA-PSS', hash: 'SHA-384' }, true, [
    'verify',
  ]);
  const bits = (key.algorithm as RsaHashedKeyAlgorithm).modulusLength;
  if (bits < 2048 || bits > 8192) throw new UncommittedKeyError('the issuer key is not 2048 to 8192 bits');
  return key;
}

export interface PendingIssuance {
  /** Send this to POST /elections/{id}/issuance, then to POST /elections/{id}/tokens. */
  blindedMsg: Uint8Array;
  /** What to keep across the FranceConnect round trip to finish later (resumeIssuance). */
  state: PendingIssuanceState;
  /** RFC 9474 §4.4 Finalize (which verifies the signature) → the voting right. */
  finish(blindSig: Uint8Array): Promise<VotingRight>;
}

/**
 * The blinding state of an issuance in progress, as the booth keeps it in IndexedDB while
 * the citizen goes through FranceConnect (ballot-secrecy.md §3): secret (the ephemeral key
 * seed and the blinding inverse), never sent anywhere.
 */
export interface PendingIssuanceState {
  format: 'parvis-pending-issuance-v1';
  election: string;
  seed: string;
  msg: string;
  prepared: string;
  inv: string;
  blinded_msg: string;
}

/** Steps 1-3: ephemeral Ed25519 key, 32-byte nonce, token message, Prepare and Blind. */
export async function beginIssuance(spki: Uint8Array, election: string, random: RandomBytes = systemRandom): Promise<PendingIssuance> {
  const publicKey = await importIssuerKey(spki);
  const seed = random(32);
  const nonce = random(32);
  const msg = tokenMessage(electionIdBytes(election), ed.getPublicKey(seed), nonce);
  const suite = RSABSSA.SHA384.PSS.Randomized();
  // RFC 9474 §4.1 Prepare (randomized): msg_prefix = 32 random bytes; input = prefix ‖ msg.
  const prepared = suite.prepare(msg);
  // RFC 9474 §4.2 Blind.
  const { blindedMsg, inv } = await suite.blind(publicKey, prepared);
  return pendingFrom(publicKey, election, seed, msg, prepared, inv, blindedMsg);
}

/** The issuance kept before the FranceConnect round trip, ready to finish (same key). */
export async function resumeIssuance(spki: Uint8Array, election: string, kept: unknown): Promise<PendingIssuance> {
  const s = kept as Partial<PendingIssuanceState> | null;
  if (!s || s.format !== 'parvis-pending-issuance-v1' || s.election !== election) {
    throw new Error('no issuance of this election in progress on this device');
  }
  const field = (name: keyof PendingIssuanceState) => b64uDecode(String(s[name]), name);
  const publicKey = await importIssuerKey(spki);
  return pendingFrom(publicKey, election, field('seed'), field('msg'), field('prepared'), field('inv'), field('blinded_msg'));
}

function pendingFrom(
  publicKey: CryptoKey,
  election: string,
  seed: Uint8Array,
  msg: Uint8Array,
  prepared: Uint8Array,
  inv: Uint8Array,
  blindedMsg: Uint8Array,
): PendingIssuance {
  const suite = RSABSSA.SHA384.PSS.Randomized();
  return {
    blindedMsg,
    state: {
      format: 'parvis-pending-issuance-v1',
      election,
      seed: b64uEncode(seed),
      msg: b64uEncode(msg),
      prepared: b64uEncode(prepared),
      inv: b64uEncode(inv),
      blinded_msg: b64uEncode(blindedMsg),
    },
    async finish(blindSig: Uint8Array): Promise<VotingRight> {
      // RFC 9474 §4.4 Finalize: unblind, then RSASSA-PSS-VERIFY; throws on a bad answer.
      const sig = await suite.finalize(publicKey, prepared, blindSig, inv);
      return {
        format: VOTING_RIGHT_FORMAT,
        election,
        token: {
          msg_prefix: b64uEncode(prepared.slice(0, 32)),
          msg: b64uEncode(msg),
          sig: b64uEncode(sig),
        },
        signing_key: b64uEncode(seed),
        last_seq: 0,
      };
    },
  };
}

/** RFC 9474 §4.5: a stored token still verifies under the committed key. */
export async function verifyToken(spki: Uint8Array, right: VotingRight): Promise<boolean> {
  const publicKey = await importIssuerKey(spki);
  const prepared = new Uint8Array([...b64uDecode(right.token.msg_prefix), ...b64uDecode(right.token.msg)]);
  return RSABSSA.SHA384.PSS.Randomized().verify(publicKey, b64uDecode(right.token.sig), prepared);
}

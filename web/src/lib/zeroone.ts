// Disjunctive Chaum–Pedersen proofs that a ciphertext encrypts 0 or 1 (a ballot's cell).
//
// The booth's side of ballot/zeroone.py (ballot-secrecy.md §1, "Ballot"; ADR 0011): the
// two-branch case of range.ts under its own transcript kind "zero-one", so a cell proof and a
// range proof over [0, 1] are never interchangeable. 256 bytes on the wire.

import { encrypt, type Ciphertext } from './elgamal.js';
import { Scalar, type Point } from './group.js';
import { DisjunctiveProof, proveClaimed, proveRange, verifyRange } from './range.js';
import type { Context } from './transcript.js';

/** The transcript kind of a cell's proof. */
export const ZERO_ONE_KIND = 'zero-one';

/** Prove that ciphertext = Enc(bit; nonce) with bit ∈ {0, 1}; RangeError for any other bit. */
export function proveZeroOne(
  context: Context,
  s: { key: Point; ciphertext: Ciphertext; bit: number; nonce: Scalar; rng?: () => Scalar },
): DisjunctiveProof {
  return proveRange(context, {
    key: s.key,
    ciphertext: s.ciphertext,
    message: s.bit,
    nonce: s.nonce,
    lo: 0,
    hi: 1,
    kind: ZERO_ONE_KIND,
    ...(s.rng ? { rng: s.rng } : {}),
  });
}

/** Check a cell's proof; throw ProofError if it fails. */
export function verifyZeroOne(context: Context, v: { key: Point; ciphertext: Ciphertext; proof: DisjunctiveProof }): void {
  verifyRange(context, { ...v, lo: 0, hi: 1, kind: ZERO_ONE_KIND });
}

/** A cell's proof from its 256 bytes, strictly decoded (GroupError otherwise). */
export function decodeZeroOne(data: Uint8Array): DisjunctiveProof {
  return DisjunctiveProof.fromBytes(data, 2);
}

/** A cell as the booth makes it: a fresh CSPRNG nonce, the ciphertext and its 0/1 proof.
 *  Call key.withTables() once per ballot first: every cell multiplies the key. */
export function encryptCell(
  context: Context,
  key: Point,
  bit: number,
  rng: () => Scalar = Scalar.random,
): { ciphertext: Ciphertext; proof: DisjunctiveProof } {
  let nonce = rng();
  while (nonce.isZero()) nonce = rng(); // probability 2^-252; encrypt refuses a zero nonce
  const ciphertext = encrypt(bit, key, nonce);
  const proof = proveClaimed(context, { key, ciphertext, message: bit, nonce, lo: 0, hi: 1, kind: ZERO_ONE_KIND, rng });
  return { ciphertext, proof };
}

// RFC 6962 / RFC 9162 Merkle trees, the verifier's side only (docs/board-format.md §1):
//   leaf hash = SHA-256(0x00 ‖ leaf bytes), node hash = SHA-256(0x01 ‖ left ‖ right).

import { sha256 } from '@noble/hashes/sha2.js';

import { concat, equalBytes } from './bytes.js';

export class InclusionProofError extends Error {
  override name = 'InclusionProofError';
}

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** RFC 9162 §2.1.1: the hash of a leaf. */
export const leafHash = (data: Uint8Array): Uint8Array => sha256(concat(LEAF_PREFIX, data));

/** RFC 9162 §2.1.1: the hash of an interior node. */
export const nodeHash = (left: Uint8Array, right: Uint8Array): Uint8Array =>
  sha256(concat(NODE_PREFIX, left, right));

/**
 * RFC 9162 §2.1.3.2 "Verifying an Inclusion Proof", step by step: the root that the
 * `proof` gives for `leaf` at `index` in a tree of `size` leaves. Throws
 * InclusionProofError when the proof cannot be a proof for that position.
 */
export function rootFromInclusion(leaf: Uint8Array, index: number, size: number, proof: Uint8Array[]): Uint8Array {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0) {
    throw new InclusionProofError('leaf index and tree size must be non-negative integers');
  }
  if (leaf.length !== 32 || proof.some((p) => p.length !== 32)) {
    throw new InclusionProofError('every hash is 32 bytes');
  }
  // 1. "If leaf_index >= tree_size, then fail the proof verification."
  if (index >= size) throw new InclusionProofError(`leaf index ${index} is not below tree size ${size}`);
  // 2. "Set fn to leaf_index and sn to tree_size - 1."  (Plain numbers: sizes stay < 2^53.)
  let fn = index;
  let sn = size - 1;
  // 3. "Set r to hash."
  let r = leaf;
  // 4. "For each value p in the inclusion_path array:"
  for (const p of proof) {
    // a. "If sn is 0, then stop the iteration and fail the proof verification."
    if (sn === 0) throw new InclusionProofError('inclusion proof is longer than the tree is deep');
    // b. "If LSB(fn) is set, or if fn is equal to sn, then:"
    if (fn % 2 === 1 || fn === sn) {
      // i. "Set r to HASH(0x01 || p || r)."
      r = nodeHash(p, r);
      // ii. "If LSB(fn) is not set, then right-shift both fn and sn equally until either
      //     LSB(fn) is set or fn is 0."
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      // "Otherwise: Set r to HASH(0x01 || r || p)."
      r = nodeHash(r, p);
    }
    // c. "Finally, right-shift both fn and sn one time."
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // 5. "Compare sn to 0. [...] If sn is equal to 0 and r and the root_hash are equal [...]"
  if (sn !== 0) throw new InclusionProofError('inclusion proof is shorter than the tree is deep');
  return r;
}

/** RFC 9162 §2.1.3.2: throws unless `proof` proves `leaf` at `index` under `root`. */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: Uint8Array[],
  root: Uint8Array,
): void {
  if (!equalBytes(rootFromInclusion(leaf, index, size, proof), root)) {
    throw new InclusionProofError('the inclusion proof leads to another root');
  }
}

// Checking a receipt (docs/board-format.md §5): the leaf hash is the one of the ballot we
// cast, the tracking code is derived from it, and — when the receipt carries them — the
// inclusion proof leads from the leaf to the root of a checkpoint that the board key signed.

import { b64uDecode, equalBytes } from './bytes.js';
import { rootFromInclusion } from './merkle.js';
import { openCheckpoint, openPromise, parseVerifierKey, type Checkpoint, type LogPromise } from './note.js';
import { trackingCode } from './tracking.js';

export class ReceiptError extends Error {
  override name = 'ReceiptError';
  constructor(
    /** A stable code the pages translate: leaf, code, proof, checkpoint, size. */
    readonly reason: 'leaf' | 'code' | 'proof' | 'checkpoint' | 'size' | 'promise',
    message: string,
  ) {
    super(message);
  }
}

export interface BoardKey {
  origin: string;
  key: string;
}

export interface InclusionEvidence {
  leafHash: Uint8Array;
  index: number;
  treeSize?: number | null;
  proof: string[];
  checkpoint: string;
}

/**
 * Verify the checkpoint's signature with the board key from the manifest (C2SP signed
 * note), then the RFC 9162 §2.1.3.2 inclusion proof against its root. Returns the
 * checkpoint; throws ReceiptError naming what failed.
 */
export function verifyInclusionEvidence(evidence: InclusionEvidence, board: BoardKey): Checkpoint {
  let checkpoint: Checkpoint;
  try {
    checkpoint = openCheckpoint(evidence.checkpoint, board.origin, parseVerifierKey(board.key));
  } catch (err) {
    throw new ReceiptError('checkpoint', `checkpoint: ${(err as Error).message}`);
  }
  if (evidence.treeSize != null && evidence.treeSize !== checkpoint.size) {
    throw new ReceiptError('size', `the proof is for ${evidence.treeSize} entries, the checkpoint for ${checkpoint.size}`);
  }
  let root: Uint8Array;
  try {
    const proof = evidence.proof.map((p) => b64uDecode(p, 'inclusion proof'));
    root = rootFromInclusion(evidence.leafHash, evidence.index, checkpoint.size, proof);
  } catch (err) {
    throw new ReceiptError('proof', `inclusion proof: ${(err as Error).message}`);
  }
  if (!equalBytes(root, checkpoint.rootHash)) {
    throw new ReceiptError('proof', 'the inclusion proof does not lead to the signed root');
  }
  return checkpoint;
}

/** The leaf hash a receipt names is ours, and the tracking code is derived from it. */
export function checkReceiptLeaf(expectedLeaf: Uint8Array, receiptLeaf: string, code: string): void {
  const leaf = b64uDecode(receiptLeaf, 'leaf_hash');
  if (!equalBytes(leaf, expectedLeaf)) throw new ReceiptError('leaf', 'the receipt names another ballot');
  if (trackingCode(leaf) !== code) throw new ReceiptError('code', 'the tracking code does not match the leaf hash');
}

/** A receipt's signed promise (docs/ballot-api.md): by the board key, for our leaf. */
export function verifyPromise(note: string, board: BoardKey, leaf: Uint8Array): LogPromise {
  try {
    return openPromise(note, board.origin, parseVerifierKey(board.key), leaf);
  } catch (err) {
    throw new ReceiptError('promise', `promise: ${(err as Error).message}`);
  }
}

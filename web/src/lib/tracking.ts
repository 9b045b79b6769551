// Tracking codes (docs/board-format.md §5; ballot/board.py tracking_code): the first 10
// bytes of the leaf hash in RFC 4648 §6 base32, no padding, in four groups of four.

import { base32Encode } from './bytes.js';

export function trackingCode(leafHash: Uint8Array): string {
  if (leafHash.length !== 32) throw new Error('a leaf hash is 32 bytes');
  const text = base32Encode(leafHash.slice(0, 10));
  return [0, 4, 8, 12].map((i) => text.slice(i, i + 4)).join('-');
}

/**
 * Read a code as a person typed it: upper-case, drop separators and spaces, read the
 * look-alikes 0, 1, 8 as O, I, B (§5). Returns null unless 16 base32 characters remain.
 */
export function normaliseTrackingCode(input: string): string | null {
  const cleaned = input
    .toUpperCase()
    .replace(/[^A-Z0-9]/g, '')
    .replace(/0/g, 'O')
    .replace(/1/g, 'I')
    .replace(/8/g, 'B');
  if (!/^[A-Z2-7]{16}$/.test(cleaned)) return null;
  return [0, 4, 8, 12].map((i) => cleaned.slice(i, i + 4)).join('-');
}

// Token messages and election ids (docs/board-format.md §4; ballot/token.py):
//   token message = "parvis-ballot-v1" ‖ election id (16 bytes) ‖ vk (32) ‖ nonce (32)
//   nullifier     = SHA-256(token message)

import { sha256 } from '@noble/hashes/sha2.js';

import { concat, hex, utf8 } from './bytes.js';

export const TOKEN_DOMAIN = utf8('parvis-ballot-v1');
export const TOKEN_MESSAGE_LENGTH = 96;
export const TOKEN_VARIANT = 'RSABSSA-SHA384-PSS-Randomized';

export class TokenError extends Error {
  override name = 'TokenError';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The 16 bytes of an election id given in RFC 9562 lowercase hyphenated form. */
export function electionIdBytes(text: string): Uint8Array {
  if (!UUID.test(text)) throw new TokenError('an election id is a lowercase hyphenated UUID');
  const digits = text.replaceAll('-', '');
  return Uint8Array.from({ length: 16 }, (_, i) => parseInt(digits.slice(2 * i, 2 * i + 2), 16));
}

/** The RFC 9562 text form of 16 election id bytes. */
export function electionIdText(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new TokenError('an election id is 16 bytes');
  const h = hex(bytes);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The 96-byte token message the election key blind-signs (voting-protocol.md, step 2). */
export function tokenMessage(electionId: Uint8Array, voterKey: Uint8Array, nonce: Uint8Array): Uint8Array {
  if (electionId.length !== 16) throw new TokenError('the election id is 16 bytes');
  if (voterKey.length !== 32) throw new TokenError('the voter key is 32 bytes');
  if (nonce.length !== 32) throw new TokenError('the nonce is 32 bytes');
  return concat(TOKEN_DOMAIN, electionId, voterKey, nonce);
}

/** Split a token message into its parts; throws unless it has the documented layout. */
export function parseTokenMessage(msg: Uint8Array): { electionId: Uint8Array; voterKey: Uint8Array; nonce: Uint8Array } {
  if (msg.length !== TOKEN_MESSAGE_LENGTH) throw new TokenError('a token message is 96 bytes');
  if (hex(msg.slice(0, 16)) !== hex(TOKEN_DOMAIN)) throw new TokenError('a token message starts with parvis-ballot-v1');
  return { electionId: msg.slice(16, 32), voterKey: msg.slice(32, 64), nonce: msg.slice(64, 96) };
}

/** The ballot box's uniqueness key for a token. */
export const nullifier = (msg: Uint8Array): Uint8Array => sha256(msg);

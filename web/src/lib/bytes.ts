// Byte helpers shared by the booth and the tracker.
//
// Encodings (docs/board-format.md, "Conventions"):
// - B64U: base64url without padding, RFC 4648 §5 and §3.2, in its one canonical form
//   (re-encoding the decoded bytes gives the same text; RFC 4648 §3.5 lets us refuse
//   non-zero pad bits, and we do, as ballot.token.b64u_decode does);
// - B64: standard base64 with padding, RFC 4648 §4, used only inside C2SP signed notes.

const B64U_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export class EncodingError extends Error {
  override name = 'EncodingError';
}

function encode64(data: Uint8Array, alphabet: string, pad: boolean): string {
  let out = '';
  let i = 0;
  for (; i + 2 < data.length; i += 3) {
    const n = (data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!;
    out += alphabet[n >>> 18]! + alphabet[(n >>> 12) & 63]! + alphabet[(n >>> 6) & 63]! + alphabet[n & 63]!;
  }
  const rest = data.length - i;
  if (rest === 1) {
    const n = data[i]! << 16;
    out += alphabet[n >>> 18]! + alphabet[(n >>> 12) & 63]! + (pad ? '==' : '');
  } else if (rest === 2) {
    const n = (data[i]! << 16) | (data[i + 1]! << 8);
    out += alphabet[n >>> 18]! + alphabet[(n >>> 12) & 63]! + alphabet[(n >>> 6) & 63]! + (pad ? '=' : '');
  }
  return out;
}

function decode64(text: string, alphabet: string, padded: boolean, what: string): Uint8Array {
  let body = text;
  if (padded) {
    if (text.length % 4 !== 0) throw new EncodingError(`${what}: base64 length is not a multiple of 4`);
    body = text.replace(/={1,2}$/, '');
  } else if (text.length % 4 === 1) {
    throw new EncodingError(`${what}: impossible base64url length`);
  }
  const values: number[] = [];
  for (const ch of body) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new EncodingError(`${what}: not ${padded ? 'base64' : 'unpadded base64url'}`);
    values.push(v);
  }
  const out = new Uint8Array(Math.floor((values.length * 6) / 8));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const v of values) {
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  // RFC 4648 §3.5: refuse non-zero pad bits so that every byte string has one text form.
  if ((acc & ((1 << bits) - 1)) !== 0) throw new EncodingError(`${what}: non-canonical base64 (stray bits)`);
  if (encode64(out, alphabet, padded) !== text) throw new EncodingError(`${what}: non-canonical base64`);
  return out;
}

/** base64url without padding (RFC 4648 §5, §3.2). */
export const b64uEncode = (data: Uint8Array): string => encode64(data, B64U_ALPHABET, false);
/** Strict, canonical unpadded base64url; throws EncodingError. */
export const b64uDecode = (text: string, what = 'value'): Uint8Array =>
  decode64(text, B64U_ALPHABET, false, what);
/** Standard base64 with padding (RFC 4648 §4). */
export const b64Encode = (data: Uint8Array): string => encode64(data, B64_ALPHABET, true);
/** Strict, canonical padded standard base64; throws EncodingError. */
export const b64Decode = (text: string, what = 'value'): Uint8Array => decode64(text, B64_ALPHABET, true, what);

/** RFC 4648 §6 base32 without padding (tracking codes). */
export function base32Encode(data: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const byte of data) {
    acc = ((acc << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += B32_ALPHABET[(acc >>> bits) & 31]!;
    }
  }
  if (bits > 0) out += B32_ALPHABET[(acc << (5 - bits)) & 31]!;
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Equality without an early exit (the values compared here are public, but cheap to do right). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

export function hex(data: Uint8Array): string {
  return Array.from(data, (b) => b.toString(16).padStart(2, '0')).join('');
}

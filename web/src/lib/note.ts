// C2SP signed notes (https://c2sp.org/signed-note) and tlog checkpoints
// (https://c2sp.org/tlog-checkpoint), Ed25519 (type 0x01) only — what a board checkpoint is
// (docs/board-format.md §1). Mirrors audit/note.py's open_checkpoint for one log key.

import * as ed from '@noble/ed25519';
import { sha256, sha512 } from '@noble/hashes/sha2.js';

import { b64Decode, concat, EncodingError, equalBytes, hex, utf8 } from './bytes.js';

ed.hashes.sha512 = sha512;

export class NoteError extends Error {
  override name = 'NoteError';
}

const SIG_TYPE_ED25519 = 0x01;
const SIG_PREFIX = '\u2014 '; // EM DASH, SPACE
// signed-note "Format": no ASCII control characters other than newline.
const CONTROL = /[\x00-\x09\x0b-\x1f]/;
const SIZE_LINE = /^(0|[1-9][0-9]*)$/;
const KEY_ID_HEX = /^[0-9a-f]{8}$/;

export interface VerifierKey {
  name: string;
  keyId: Uint8Array; // 4 bytes
  publicKey: Uint8Array; // 32 bytes
}

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Uint8Array;
}

// signed-note "Format": "key names must be non-empty, well-formed UTF-8 containing neither
// Unicode spaces nor plus (U+002B)".
function checkKeyName(name: string): void {
  if (!name || /[\s+]/u.test(name) || CONTROL.test(name)) {
    throw new NoteError('key name is empty or contains a space or a plus sign');
  }
}

/** signed-note "Signatures": key id = first 4 bytes of SHA-256(name ‖ 0x0A ‖ type ‖ key). */
export function keyId(name: string, publicKey: Uint8Array, keyType = SIG_TYPE_ED25519): Uint8Array {
  return sha256(concat(utf8(name), Uint8Array.of(0x0a, keyType), publicKey)).slice(0, 4);
}

/** Parse `<name>+<8 hex key id>+<B64(0x01 ‖ public key)>` and check the key id. */
export function parseVerifierKey(text: string): VerifierKey {
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (first < 0 || second < 0) throw new NoteError('verifier key is not <name>+<key id>+<base64 key>');
  const name = text.slice(0, first);
  const idHex = text.slice(first + 1, second);
  checkKeyName(name);
  if (!KEY_ID_HEX.test(idHex)) throw new NoteError('verifier key id is not 8 lowercase hex digits');
  let raw: Uint8Array;
  try {
    raw = b64Decode(text.slice(second + 1), 'verifier key');
  } catch (err) {
    throw new NoteError(err instanceof EncodingError ? err.message : 'verifier key is not base64');
  }
  if (raw.length !== 33 || raw[0] !== SIG_TYPE_ED25519) {
    throw new NoteError('verifier key is not an Ed25519 (type 0x01) key');
  }
  const publicKey = raw.slice(1);
  const id = keyId(name, publicKey);
  if (hex(id) !== idHex) throw new NoteError('verifier key id does not match the key name and key');
  return { name, keyId: id, publicKey };
}

interface SignatureLine {
  name: string;
  keyId: Uint8Array;
  signature: Uint8Array;
}

/** signed-note "Format": split into the text (final newline included) and signature lines. */
function parseNote(note: string): { text: string; lines: SignatureLine[] } {
  if (CONTROL.test(note)) throw new NoteError('note contains a control character other than newline');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('note has no empty line between text and signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (!block || !block.endsWith('\n')) throw new NoteError('note has no complete signature line');
  const lines = block
    .slice(0, -1)
    .split('\n')
    .map((line): SignatureLine => {
      if (!line.startsWith(SIG_PREFIX)) throw new NoteError('signature line does not start with an em dash');
      const rest = line.slice(SIG_PREFIX.length);
      const space = rest.indexOf(' ');
      if (space < 0) throw new NoteError('signature line has no space between name and signature');
      const name = rest.slice(0, space);
      checkKeyName(name);
      let raw: Uint8Array;
      try {
        raw = b64Decode(rest.slice(space + 1), 'signature');
      } catch {
        throw new NoteError(`signature of ${name} is not base64`);
      }
      if (raw.length < 5) throw new NoteError(`signature of ${name} is too short`);
      return { name, keyId: raw.slice(0, 4), signature: raw.slice(4) };
    });
  if (lines.length > 100) throw new NoteError('note has more than 100 signatures');
  return { text, lines };
}

/** tlog-checkpoint "Note text": origin, decimal size without leading zeros, B64 root. */
function parseCheckpoint(text: string): Checkpoint {
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new NoteError('checkpoint body has fewer than 3 lines');
  const [origin, sizeLine, rootLine] = lines as [string, string, string];
  if (!origin || origin !== origin.trim()) throw new NoteError('checkpoint origin is empty or padded');
  if (!SIZE_LINE.test(sizeLine)) throw new NoteError('checkpoint size is not a decimal number');
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw new NoteError('checkpoint size is too large');
  let rootHash: Uint8Array;
  try {
    rootHash = b64Decode(rootLine, 'root hash');
  } catch {
    throw new NoteError('checkpoint root hash is not base64');
  }
  if (rootHash.length !== 32) throw new NoteError('checkpoint root hash is not 32 bytes');
  return { origin, size, rootHash };
}

/**
 * Verify a signed note under `key` and return its text (signed-note "Signatures"): lines
 * from other keys are ignored; a line from the known key (same name and key id) must
 * verify; at least one must. Ed25519 verification follows RFC 8032 §5.1.7 strictly (not
 * ZIP 215), as libsodium does on the server side. The text must be ignored unless this
 * returns.
 */
export function openNote(note: string, key: VerifierKey): string {
  const { text, lines } = parseNote(note);
  const message = utf8(text);
  let verified = 0;
  for (const line of lines) {
    if (line.name !== key.name || !equalBytes(line.keyId, key.keyId)) continue;
    if (verified) throw new NoteError(`note has more than one signature by ${key.name}`);
    let valid = false;
    try {
      valid = line.signature.length === 64 && ed.verify(line.signature, message, key.publicKey, { zip215: false });
    } catch {
      valid = false; // a malformed point or scalar is an invalid signature
    }
    if (!valid) throw new NoteError(`the signature by ${key.name} does not verify`);
    verified++;
  }
  if (!verified) throw new NoteError(`no signature by the key ${key.name}`);
  return text;
}

/** Verify a signed checkpoint of the log `origin` under `key` and return its body. */
export function openCheckpoint(note: string, origin: string, key: VerifierKey): Checkpoint {
  const checkpoint = parseCheckpoint(openNote(note, key));
  if (checkpoint.origin !== origin) throw new NoteError('checkpoint belongs to another log');
  return checkpoint;
}

export interface LogPromise {
  origin: string;
  leafHash: Uint8Array;
  /** POSIX seconds by which the log promised to integrate the entry. */
  integrateBy: number;
}

/**
 * A signed promise to integrate an entry (audit/promise.py): a note by the log key whose
 * text is "parvis-log-promise/v1", origin, B64 leaf hash, integrate-by POSIX seconds, one
 * per line. A log that signs one and does not integrate the entry in time has signed
 * evidence of its own misbehaviour (like an RFC 9162 §4.8 SCT).
 */
export function openPromise(note: string, origin: string, key: VerifierKey, leafHash: Uint8Array): LogPromise {
  const lines = openNote(note, key).split('\n');
  if (lines.length !== 5 || lines[0] !== 'parvis-log-promise/v1' || lines[4] !== '') {
    throw new NoteError('note text is not a version 1 promise');
  }
  const [, promisedOrigin, leafB64, seconds] = lines as [string, string, string, string];
  if (promisedOrigin !== origin) throw new NoteError('promise belongs to another log');
  let leaf: Uint8Array;
  try {
    leaf = b64Decode(leafB64, 'promised leaf hash');
  } catch {
    throw new NoteError('promised leaf hash is not base64');
  }
  if (!equalBytes(leaf, leafHash)) throw new NoteError('promise is for another entry');
  if (!/^(0|[1-9][0-9]{0,15})$/.test(seconds)) throw new NoteError('promise time is not a number of seconds');
  return { origin, leafHash: leaf, integrateBy: Number(seconds) };
}

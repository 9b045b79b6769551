// Strong Fiat–Shamir transcripts for the proofs of encrypted ballots.
//
// The booth's side of ballot/transcript.py (ballot-secrecy.md §1, "Strong Fiat–Shamir"; ADR
// 0011), byte for byte. Every challenge is hashToScalar (group.ts) of the parts
//
//   "parvis-ballot-v2", "kind", kind, "election", election id (UTF-8), "manifest",
//   manifest hash, "vk", vk, then the statement and the commitments as (label, value) pairs,
//
// each part prefixed by its 8-byte length, so the encoding is injective. A list of points is one
// value (their concatenated 32-byte encodings); an integer is 8 bytes, big-endian, two's
// complement. Hashing the statement is the strong form of Bernhard, Pereira and Warinschi
// (ASIACRYPT 2012); hashing the ballot's key vk stops a copied ciphertext from being cast under
// another voting token (Cortier and Smyth, CSF 2011).

import { hashToScalar, type Point, type Scalar } from './group.js';

/** The protocol label that opens every transcript (ballot-secrecy.md §1). */
export const PROTOCOL = 'parvis-ballot-v2';

const utf8 = new TextEncoder();

/** A zero-knowledge proof does not verify; the message names the proof and the check. */
export class ProofError extends Error {
  override name = 'ProofError';
}

/** What binds a proof to one election and one message of it (ballot.transcript.Context). */
export class Context {
  readonly electionId: string;
  readonly manifestHash: Uint8Array;
  readonly vk: Uint8Array;

  constructor(electionId: string, manifestHash: Uint8Array, vk: Uint8Array) {
    if (typeof electionId !== 'string' || electionId === '') {
      throw new TypeError("the context's election id is a non-empty string");
    }
    if (!(manifestHash instanceof Uint8Array) || manifestHash.length !== 32) {
      throw new TypeError("the context's manifest hash is 32 bytes");
    }
    if (!(vk instanceof Uint8Array) || vk.length !== 32) {
      throw new TypeError("the context's vk is a 32-byte Ed25519 public key");
    }
    this.electionId = electionId;
    this.manifestHash = Uint8Array.from(manifestHash);
    this.vk = Uint8Array.from(vk);
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

function integer(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  // setBigInt64 throws on values outside the signed 64-bit range, as Python's to_bytes does.
  if (value < -(1n << 63n) || value >= 1n << 63n) throw new RangeError('a transcript integer is 64-bit');
  new DataView(out.buffer).setBigInt64(0, value, false);
  return out;
}

/** A Fiat–Shamir transcript: the context first, then the statement, then the commitments. */
export class Transcript {
  readonly #parts: Uint8Array[];

  constructor(context: Context, kind: string) {
    this.#parts = [
      utf8.encode(PROTOCOL),
      utf8.encode('kind'),
      utf8.encode(kind),
      utf8.encode('election'),
      utf8.encode(context.electionId),
      utf8.encode('manifest'),
      context.manifestHash,
      utf8.encode('vk'),
      context.vk,
    ];
  }

  /** Append a labelled list of points (one value: their concatenated encodings). */
  points(label: string, points: readonly Point[]): this {
    this.#parts.push(utf8.encode(label), concat(points.map((p) => p.encoded)));
    return this;
  }

  /** Append a labelled list of integers (each 8 bytes, big-endian, signed). */
  integers(label: string, values: readonly (bigint | number)[]): this {
    this.#parts.push(utf8.encode(label), concat(values.map((v) => integer(BigInt(v)))));
    return this;
  }

  /** The challenge: SHA-512 of the length-prefixed parts, reduced (hash to scalar). */
  challenge(): Scalar {
    return hashToScalar(...this.#parts);
  }
}

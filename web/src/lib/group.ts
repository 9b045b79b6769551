// The prime-order group of edwards25519, with strict checks, over @noble/curves.
//
// The booth's side of ballot/group.py (ballot-secrecy.md §1, "Group"; ADR 0011): the subgroup
// of prime order L = 2^252 + 27742317777372353535851937790883648493 of the Ed25519 curve
// (RFC 8032 §5.1), the same group and the same encodings as the server and the verifier.
//
// A point from the wire is accepted only if its 32-byte encoding is canonical, on the curve,
// in the prime-order subgroup and not of small order — the four checks of libsodium's
// crypto_core_ed25519_is_valid_point, which the Python side uses. A scalar is accepted only if
// its 32 little-endian bytes are below L. Scalars are never clamped: a scalar means the same
// number everywhere (libsodium's *_noclamp functions on the Python side).

import { ed25519 } from '@noble/curves/ed25519.js';
import type { EdwardsPoint } from '@noble/curves/abstract/edwards.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';

const EdPoint = ed25519.Point;

/** The order of the prime-order subgroup (RFC 8032 §5.1: L). */
export const ORDER: bigint = EdPoint.CURVE().n;
const SIZE = 32;

/** A point or scalar encoding is refused (non-canonical, off the group, small order). */
export class GroupError extends Error {
  override name = 'GroupError';
}

function mod(value: bigint): bigint {
  const r = value % ORDER;
  return r < 0n ? r + ORDER : r;
}

/** An integer modulo ORDER. */
export class Scalar {
  private constructor(readonly value: bigint) {}

  /** Any integer, reduced modulo the order (negative values wrap, as Scalar.of in Python). */
  static of(value: bigint | number): Scalar {
    return new Scalar(mod(BigInt(value)));
  }

  /** A scalar from the wire: 32 little-endian bytes below the order, or GroupError. */
  static decode(data: Uint8Array): Scalar {
    if (!(data instanceof Uint8Array) || data.length !== SIZE) {
      throw new GroupError('a scalar is 32 little-endian bytes below the group order');
    }
    const value = bytesToNumberLE(data);
    if (value >= ORDER) throw new GroupError('a scalar is 32 little-endian bytes below the group order');
    return new Scalar(value);
  }

  /** 64 bytes read as a little-endian integer, reduced modulo the order (libsodium's
   *  crypto_core_ed25519_scalar_reduce: the "wide reduction" of RFC 8032 §5.1.6). */
  static fromWide(data: Uint8Array): Scalar {
    if (!(data instanceof Uint8Array) || data.length !== 64) {
      throw new GroupError('a wide reduction takes exactly 64 bytes');
    }
    return new Scalar(mod(bytesToNumberLE(data)));
  }

  /** A uniformly random scalar: 64 bytes of the platform CSPRNG (WebCrypto's
   *  getRandomValues), reduced — the bias is below 2^-259, as Scalar.random in Python. */
  static random(): Scalar {
    return Scalar.fromWide(crypto.getRandomValues(new Uint8Array(64)));
  }

  get encoded(): Uint8Array {
    return numberToBytesLE(this.value, SIZE);
  }

  isZero(): boolean {
    return this.value === 0n;
  }

  add(other: Scalar): Scalar {
    return new Scalar(mod(this.value + other.value));
  }

  sub(other: Scalar): Scalar {
    return new Scalar(mod(this.value - other.value));
  }

  mul(other: Scalar): Scalar {
    return new Scalar(mod(this.value * other.value));
  }

  neg(): Scalar {
    return new Scalar(mod(-this.value));
  }

  equals(other: Scalar): boolean {
    return this.value === other.value;
  }
}

/** An element of the prime-order group. Construct with Point.decode (strict checks) or from
 *  group operations; the identity (IDENTITY) is never accepted from the wire. */
// Module-private constructor for the curve's own constants (not exported: points from outside
// come only through Point.decode).
let wrap: (ep: EdwardsPoint) => Point;

export class Point {
  static {
    wrap = (ep) => new Point(ep);
  }

  #encoded: Uint8Array | undefined;

  private constructor(
    readonly ep: EdwardsPoint,
    encoded?: Uint8Array,
  ) {
    this.#encoded = encoded;
  }

  /** A point from the wire: canonical, on the curve, in the prime-order subgroup, not of
   *  small order — or GroupError. */
  static decode(data: Uint8Array): Point {
    if (!(data instanceof Uint8Array) || data.length !== SIZE) throw new GroupError('a point is 32 bytes');
    let ep: EdwardsPoint;
    try {
      // zip215 = false: RFC 8032 §5.1.3 decoding, which refuses y ≥ p and x = 0 with the sign
      // bit set (the two non-canonical forms) and points off the curve.
      ep = EdPoint.fromBytes(data, false);
    } catch {
      throw new GroupError('not a canonical point of the prime-order group');
    }
    // Not of small order (which includes the identity), and L·P = identity (the prime-order
    // subgroup): a point with a torsion component would let a prover hide a bit modulo 8.
    if (ep.isSmallOrder() || !ep.isTorsionFree()) {
      throw new GroupError('not a canonical point of the prime-order group');
    }
    return new Point(ep, Uint8Array.from(data));
  }

  /** scalar · G (fixed base); the identity for the zero scalar. */
  static baseTimes(scalar: Scalar): Point {
    return scalar.isZero() ? IDENTITY : new Point(EdPoint.BASE.multiply(scalar.value));
  }

  /** The canonical 32-byte encoding (computed once: it costs a field inversion). A copy, so
   *  no caller can change what the point says it is. */
  get encoded(): Uint8Array {
    if (this.#encoded === undefined) this.#encoded = this.ep.toBytes();
    return Uint8Array.from(this.#encoded);
  }

  add(other: Point): Point {
    return new Point(this.ep.add(other.ep));
  }

  sub(other: Point): Point {
    return new Point(this.ep.subtract(other.ep));
  }

  neg(): Point {
    return new Point(this.ep.negate());
  }

  /** This point with fixed-window tables cached (window 6, @noble/curves' precompute): later
   *  multiplications of it cost about a fifth. For the election key, which every cell of a
   *  ballot multiplies two or three times. Measured in Node 20 (bench/booth_cells.py, CPU time):
   *  the tables cost ~7 ms once and bring a cell's encryption and proof from ~5 ms to ~3 ms. */
  withTables(): this {
    if (!this.ep.is0()) this.ep.precompute(6, false);
    return this;
  }

  /** scalar · this, in constant time (for the prover's secret nonces and witnesses). */
  times(scalar: Scalar): Point {
    return scalar.isZero() ? IDENTITY : new Point(this.ep.multiply(scalar.value));
  }

  /** scalar · this in variable time: only for public values (the verifier's checks). */
  timesPublic(scalar: Scalar): Point {
    return new Point(this.ep.multiplyUnsafe(scalar.value));
  }

  isIdentity(): boolean {
    return this.ep.is0();
  }

  equals(other: Point): boolean {
    return this.ep.equals(other.ep);
  }
}

/** The neutral element (encoding of (0, 1)): the sum of nothing, 0 · G. */
export const IDENTITY: Point = wrap(EdPoint.ZERO);
/** The standard base point G of Ed25519 (RFC 8032 §5.1). */
export const BASE: Point = wrap(EdPoint.BASE);

/** SHA-512 of the length-prefixed parts, reduced modulo the order: ballot.group.hash_to_scalar.
 *  Each part is prefixed by its length (8 bytes, big-endian), so no two different sequences of
 *  parts hash the same input. */
export function hashToScalar(...parts: Uint8Array[]): Scalar {
  const digest = sha512.create();
  const length = new Uint8Array(8);
  const view = new DataView(length.buffer);
  for (const part of parts) {
    view.setBigUint64(0, BigInt(part.length), false);
    digest.update(length);
    digest.update(part);
  }
  return Scalar.fromWide(digest.digest());
}

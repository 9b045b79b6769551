// Exponential ElGamal over the prime-order group of edwards25519.
//
// The booth's side of ballot/elgamal.py (ballot-secrecy.md §1, "Encryption"; ADR 0011): a
// message m (a 0/1 cell or a count) is encrypted to the election's joint key H as
//
//   Enc(m; r) = (α, β) = (r·G, m·G + r·H)
//
// (ElGamal 1985, message in the exponent as in Cramer, Gennaro and Schoenmakers, EUROCRYPT
// 1997). The wire form is 64 bytes, α ‖ β. The booth only encrypts and adds; decryption is the
// trustees' (ballot/elgamal.py).

import { GroupError, IDENTITY, Point, Scalar } from './group.js';

/** An exponential ElGamal ciphertext (α, β) = (r·G, m·G + r·H). */
export class Ciphertext {
  constructor(
    readonly alpha: Point,
    readonly beta: Point,
  ) {}

  /** The homomorphic sum: an encryption of the sum of the messages. */
  add(other: Ciphertext): Ciphertext {
    return new Ciphertext(this.alpha.add(other.alpha), this.beta.add(other.beta));
  }

  /** 64 bytes: the encodings of α and β. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(64);
    out.set(this.alpha.encoded, 0);
    out.set(this.beta.encoded, 32);
    return out;
  }

  /** A ciphertext from the wire, both points strictly decoded (group.ts). The identity is
   *  refused in either place: α is the identity only when r = 0, which would publish m·G. */
  static fromBytes(data: Uint8Array): Ciphertext {
    if (!(data instanceof Uint8Array) || data.length !== 64) throw new GroupError('a ciphertext is 64 bytes (α ‖ β)');
    let alpha: Point;
    try {
      alpha = Point.decode(data.subarray(0, 32));
    } catch (error) {
      throw new GroupError(`ciphertext α: ${(error as Error).message}`);
    }
    try {
      return new Ciphertext(alpha, Point.decode(data.subarray(32, 64)));
    } catch (error) {
      throw new GroupError(`ciphertext β: ${(error as Error).message}`);
    }
  }
}

/** The encryption of 0 with nonce 0: the sum of no ciphertexts (never valid on the wire). */
export const ZERO: Ciphertext = new Ciphertext(IDENTITY, IDENTITY);

/** m·G (negative messages wrap modulo the group order). */
export function messagePoint(message: bigint | number): Point {
  return Point.baseTimes(Scalar.of(message));
}

/** Enc(m; r) to the joint key; the caller keeps the nonce to prove. A zero nonce or the
 *  identity as key would publish m·G in clear: both are refused. */
export function encrypt(message: bigint | number, key: Point, nonce: Scalar): Ciphertext {
  if (nonce.isZero()) throw new RangeError('the encryption nonce must not be zero');
  if (key.isIdentity()) throw new RangeError('the election key must not be the identity');
  return new Ciphertext(Point.baseTimes(nonce), messagePoint(message).add(key.times(nonce)));
}

/** The homomorphic sum of the ciphertexts (ZERO for none). */
export function sumCiphertexts(ciphertexts: Iterable<Ciphertext>): Ciphertext {
  let total = ZERO;
  for (const c of ciphertexts) total = total.add(c);
  return total;
}

// Disjunctive Chaum–Pedersen proofs that a ciphertext encrypts a value in [lo, hi].
//
// The booth's side of ballot/range_proof.py (ballot-secrecy.md §1, "Ballot"; ADR 0011), same
// wire form and same transcript. The proof is the OR-composition of Cramer, Damgård and
// Schoenmakers (CRYPTO 1994, "CDS94") of one Chaum–Pedersen proof (CRYPTO 1992) per allowed
// value: for a ciphertext (α, β) under key H and each allowed m_j, branch j claims
// log_G α = log_H (β − m_j·G). The prover knows the nonce for one branch and simulates the
// others; the branch challenges must add up to the Fiat–Shamir challenge.
//
// Prover, for the true value m_k and nonce r:
//   j ≠ k: random c_j, z_j; a_j = z_j·G − c_j·α, b_j = z_j·H − c_j·(β − m_j·G);
//   j = k: random w; a_k = w·G, b_k = w·H;
//   c = challenge(context; statement; a_0, b_0, …), c_k = c − Σ_{j≠k} c_j, z_k = w + c_k·r.
// Verifier: Σ c_j = challenge(...) and, for every j, z_j·G = a_j + c_j·α and
// z_j·H = b_j + c_j·(β − m_j·G).
//
// Transcript (transcript.ts): kind "range" (or "zero-one" from zeroone.ts), then
// "key" = [H], "ciphertext" = [α, β], "range" = [lo, hi], "commitments" = [a_0, b_0, a_1, …].
// Wire form: 128 bytes per branch, a ‖ b ‖ c ‖ z, branches in increasing order of value.

import { messagePoint, type Ciphertext } from './elgamal.js';
import { BASE, GroupError, Point, Scalar } from './group.js';
import { ProofError, Transcript, type Context } from './transcript.js';

/** The most values a range may hold (as ballot.range_proof.MAX_VALUES). */
export const MAX_VALUES = 256;
const BRANCH_SIZE = 128;

/** One branch of the OR-proof: commitments a = ·G and b = ·H, challenge, response. */
export interface Branch {
  readonly commitmentG: Point;
  readonly commitmentH: Point;
  readonly challenge: Scalar;
  readonly response: Scalar;
}

/** A CDS94 OR-proof: one branch per allowed value, in increasing order. */
export class DisjunctiveProof {
  constructor(readonly branches: readonly Branch[]) {}

  /** 128 bytes per branch: a ‖ b ‖ c ‖ z. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.branches.length * BRANCH_SIZE);
    this.branches.forEach((branch, index) => {
      const at = index * BRANCH_SIZE;
      out.set(branch.commitmentG.encoded, at);
      out.set(branch.commitmentH.encoded, at + 32);
      out.set(branch.challenge.encoded, at + 64);
      out.set(branch.response.encoded, at + 96);
    });
    return out;
  }

  /** A proof of `values` branches from the wire, every point and scalar strictly decoded;
   *  the error names the branch and the field refused. */
  static fromBytes(data: Uint8Array, values: number): DisjunctiveProof {
    if (!Number.isInteger(values) || values < 1 || values > MAX_VALUES) {
      throw new GroupError(`a disjunctive proof has 1 to ${MAX_VALUES} branches`);
    }
    if (!(data instanceof Uint8Array) || data.length !== values * BRANCH_SIZE) {
      throw new GroupError(`a disjunctive proof of ${values} branches is ${values * BRANCH_SIZE} bytes`);
    }
    const branches: Branch[] = [];
    for (let index = 0; index < values; index++) {
      const chunk = data.subarray(index * BRANCH_SIZE, (index + 1) * BRANCH_SIZE);
      let field = 'commitment a';
      try {
        const commitmentG = Point.decode(chunk.subarray(0, 32));
        field = 'commitment b';
        const commitmentH = Point.decode(chunk.subarray(32, 64));
        field = 'challenge';
        const challenge = Scalar.decode(chunk.subarray(64, 96));
        field = 'response';
        const response = Scalar.decode(chunk.subarray(96, 128));
        branches.push({ commitmentG, commitmentH, challenge, response });
      } catch (error) {
        throw new GroupError(`branch ${index} ${field}: ${(error as Error).message}`);
      }
    }
    return new DisjunctiveProof(branches);
  }
}

function checkStatement(key: Point, lo: number, hi: number): void {
  if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || !(lo <= hi) || hi - lo + 1 > MAX_VALUES) {
    throw new RangeError(`a range [lo, hi] has lo ≤ hi and at most ${MAX_VALUES} values`);
  }
  // An identity key would make every β = m·G readable; no proof under it means anything.
  if (key.isIdentity()) throw new RangeError('the election key must not be the identity');
}

function statement(context: Context, kind: string, key: Point, ciphertext: Ciphertext, lo: number, hi: number): Transcript {
  return new Transcript(context, kind)
    .points('key', [key])
    .points('ciphertext', [ciphertext.alpha, ciphertext.beta])
    .integers('range', [lo, hi]);
}

/** The prover's inputs; `rng` draws the proof's random scalars (the CSPRNG by default; tests
 *  inject a seeded one to compare with the Python prover byte for byte). */
export interface RangeStatement {
  readonly key: Point;
  readonly ciphertext: Ciphertext;
  readonly message: number;
  readonly nonce: Scalar;
  readonly lo: number;
  readonly hi: number;
  readonly kind?: string;
  readonly rng?: () => Scalar;
}

/** Prove that ciphertext = Enc(message; nonce) under key with lo ≤ message ≤ hi. Throws
 *  RangeError if the statement is false (an honest prover cannot prove it). The random scalars
 *  are drawn in the order of ballot/range_proof.py: w, then (c_j, z_j) for each other branch. */
export function proveRange(context: Context, s: RangeStatement): DisjunctiveProof {
  const { key, ciphertext, message, nonce, lo, hi } = s;
  const kind = s.kind ?? 'range';
  const rng = s.rng ?? Scalar.random;
  checkStatement(key, lo, hi);
  if (!Number.isInteger(message) || message < lo || message > hi) {
    throw new RangeError(`the message is not in [${lo}, ${hi}]`);
  }
  if (
    !ciphertext.alpha.equals(Point.baseTimes(nonce)) ||
    !ciphertext.beta.equals(messagePoint(message).add(key.times(nonce)))
  ) {
    throw new RangeError('the ciphertext is not Enc(message; nonce) under this key');
  }
  return proveClaimed(context, { ...s, kind, rng });
}

/** The prover's algorithm for a statement the caller knows to be true (it has just made the
 *  ciphertext from message and nonce, as encryptCell in zeroone.ts does): proveRange without
 *  its re-encryption check, which costs two scalar multiplications. On a false statement the
 *  proof it returns does not verify (the soundness of CDS94), so the shortcut cannot forge. */
export function proveClaimed(context: Context, s: RangeStatement): DisjunctiveProof {
  const { key, ciphertext, message, nonce, lo, hi } = s;
  const kind = s.kind ?? 'range';
  const rng = s.rng ?? Scalar.random;
  checkStatement(key, lo, hi);
  if (!Number.isInteger(message) || message < lo || message > hi) {
    throw new RangeError(`the message is not in [${lo}, ${hi}]`);
  }
  const real = message - lo;
  const witness = rng();
  const commitments: [Point, Point][] = [];
  const simulated = new Map<number, [Scalar, Scalar]>();
  for (let index = 0; index <= hi - lo; index++) {
    if (index === real) {
      commitments.push([Point.baseTimes(witness), key.times(witness)]);
      continue;
    }
    const challenge = rng();
    const response = rng();
    const shifted = ciphertext.beta.sub(messagePoint(lo + index));
    commitments.push([
      Point.baseTimes(response).sub(ciphertext.alpha.times(challenge)),
      key.times(response).sub(shifted.times(challenge)),
    ]);
    simulated.set(index, [challenge, response]);
  }
  const total = statement(context, kind, key, ciphertext, lo, hi)
    .points('commitments', commitments.flat())
    .challenge();
  let realChallenge = total;
  for (const [challenge] of simulated.values()) realChallenge = realChallenge.sub(challenge);
  return new DisjunctiveProof(
    commitments.map(([commitmentG, commitmentH], index) => {
      const [challenge, response] =
        index === real ? [realChallenge, witness.add(realChallenge.mul(nonce))] : simulated.get(index)!;
      return { commitmentG, commitmentH, challenge, response };
    }),
  );
}

/** Check that proof shows ciphertext encrypts a value of [lo, hi] under key, in context;
 *  throw ProofError otherwise (never return false). Same checks, same order and same messages
 *  as ballot.range_proof.verify_range. */
export function verifyRange(
  context: Context,
  v: { key: Point; ciphertext: Ciphertext; proof: DisjunctiveProof; lo: number; hi: number; kind?: string },
): void {
  const { key, ciphertext, proof, lo, hi } = v;
  const kind = v.kind ?? 'range';
  checkStatement(key, lo, hi);
  if (proof.branches.length !== hi - lo + 1) throw new ProofError(`${kind} proof: ${hi - lo + 1} branches expected`);
  let shifted = ciphertext.beta.sub(messagePoint(lo));
  let total = Scalar.of(0);
  proof.branches.forEach((branch, index) => {
    // β − m_j·G, walked down one G per branch instead of a scalar multiplication each.
    if (index) shifted = shifted.sub(BASE);
    total = total.add(branch.challenge);
    // Public values only: the variable-time multiplication is safe and faster here.
    const left = Point.baseTimes(branch.response);
    if (!left.equals(branch.commitmentG.add(ciphertext.alpha.timesPublic(branch.challenge)))) {
      throw new ProofError(`${kind} proof: branch ${index} fails its check against α`);
    }
    if (!key.timesPublic(branch.response).equals(branch.commitmentH.add(shifted.timesPublic(branch.challenge)))) {
      throw new ProofError(`${kind} proof: branch ${index} fails its check against β`);
    }
  });
  const commitments = proof.branches.flatMap((b) => [b.commitmentG, b.commitmentH]);
  const expected = statement(context, kind, key, ciphertext, lo, hi).points('commitments', commitments).challenge();
  if (!total.equals(expected)) {
    throw new ProofError(`${kind} proof: the challenges do not add up to the transcript's hash`);
  }
}

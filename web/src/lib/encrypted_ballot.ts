// Encrypted ballots: every question's choices as 0/1 ElGamal cells with their proofs.
//
// The booth's side of ballot/encrypted_ballot.py (docs/board-format.md §10.3; ballot-secrecy.md
// §1, "Ballot"; ADR 0011), byte for byte: the same cells in the same (row-major) order, the same
// proofs on sums in the same order, the same budget envelope, the same wire form, and — given
// the same random scalars — the same bytes, because the random draws come in the Python order:
// every cell's nonce, then each cell's proof, then each sum's proof, then (budget) every bit's
// nonce, each bit's proof and the envelope's proof.
//
//   type               cells (row-major)           proofs on sums, in sum_proofs order
//   single             one per option              the sum ∈ [1, 1]
//   approval           one per option              the sum ∈ [min, max]
//   budget             one per option              the count ∈ [0, max]; the envelope (below)
//   majority judgment  one per (option, grade)     each option's row ∈ [1, 1]
//   ranked             one per (option, position)  each row ∈ [0, 1], then column 1 ∈ [0, 1],
//                      (max positions)             then column p − column p+1 ∈ [0, 1] for
//                                                  each p, then the total ∈ [min, max]
//
// Budget envelope: with X_i the option cells, c_i the costs and E the envelope, the ballot
// carries k = bitlen(E) ciphertexts B_j of the bits of the remainder E − Σ c_i·x_i, each with a
// 0/1 proof, and a range proof over [0, 0] on D = Σ_j 2^j·B_j + Σ_i c_i·X_i − (0, E·G), which
// makes the spending at most the envelope (the Python module docstring gives the argument).
//
// Wire form: an object keyed by every question id of the manifest, each
//   {"cells": [B64U 64-byte α‖β, …], "cell_proofs": [B64U 256 bytes, …],
//    "sum_proofs": [B64U 128·(hi − lo + 1) bytes, …]}
// and, for budget questions only, "bits", "bit_proofs" and "envelope_proof" (128 bytes).
// Parsing is strict: unknown or missing members, a wrong count or size, non-canonical base64url
// or a refused point throw MalformedEncryptedBallotError naming the question and the part.
//
// Every proof's transcript context is ("parvis-ballot-v2", election id, manifest hash, the
// ballot's vk): a cell copied into a ballot under another voting token fails its proof.

import { sha256 } from '@noble/hashes/sha2.js';

import { b64uDecode, b64uEncode } from './bytes.js';
import { Ciphertext, encrypt, messagePoint } from './elgamal.js';
import { GroupError, Point, Scalar } from './group.js';
import { canonical, type Json } from './jcs.js';
import { DisjunctiveProof, MAX_VALUES, proveClaimed, verifyRange } from './range.js';
import { checkChoices, countBounds, type Choice, type Choices, type Problem, type Question } from './rules.js';
import { Context, ProofError } from './transcript.js';
import { ZERO_ONE_KIND, verifyZeroOne } from './zeroone.js';

/** The format of an encrypted election's manifest (docs/board-format.md §10.2). */
export const MANIFEST_V2 = 'parvis-manifest-v2';

const CIPHERTEXT_SIZE = 64;
const BRANCH_SIZE = 128;
const MEMBERS = ['cells', 'cell_proofs', 'sum_proofs'];
const BUDGET_MEMBERS = [...MEMBERS, 'bits', 'bit_proofs', 'envelope_proof'];

/** An encrypted ballot is refused or cannot be made; `question` and `part` say where. */
export class EncryptedBallotError extends Error {
  override name = 'EncryptedBallotError';
  constructor(
    message: string,
    readonly question: string | null = null,
    readonly part: string | null = null,
  ) {
    super(message);
  }
}

/** The wire form does not parse (shape, size, base64url, a point or scalar refused). */
export class MalformedEncryptedBallotError extends EncryptedBallotError {
  override name = 'MalformedEncryptedBallotError';
}

/** A proof of the ballot does not verify (a cell, a sum, the budget's envelope). */
export class BallotProofError extends EncryptedBallotError {
  override name = 'BallotProofError';
}

/** The clear choices break the question rules (rules.ts): nothing is encrypted. */
export class InvalidChoicesError extends EncryptedBallotError {
  override name = 'InvalidChoicesError';
  constructor(readonly problems: Problem[]) {
    const first = problems[0];
    super(`the choices break the question rules (${problems.map((p) => p.code).join(', ')})`, first?.question ?? null);
  }
}

// --- the layout of a question's cells and sums ---------------------------------------------

/** [rows, columns]: one row per option; one column, or one per grade (majority judgment), or
 *  one per position (ranked: max positions). */
export function gridShape(q: Question): [number, number] {
  if (q.type === 'majority_judgment') return [q.options.length, (q.grades ?? []).length];
  if (q.type === 'ranked') return [q.options.length, countBounds(q).max];
  return [q.options.length, 1];
}

/** How errors name each cell, in wire order (as cell_labels in Python). */
export function cellLabels(q: Question): string[] {
  const [, columns] = gridShape(q);
  const ids = q.options.map((o) => o.id);
  if (q.type === 'majority_judgment') return ids.flatMap((o) => Array.from({ length: columns }, (_, g) => `${o} grade ${g}`));
  if (q.type === 'ranked') return ids.flatMap((o) => Array.from({ length: columns }, (_, p) => `${o} position ${p + 1}`));
  return ids;
}

/** One proof on a homomorphic sum: its name in errors, the cells it adds and subtracts
 *  (indexes into the cell list) and the range [lo, hi] it proves. */
export interface SumRange {
  readonly name: string;
  readonly plus: readonly number[];
  readonly minus: readonly number[];
  readonly lo: number;
  readonly hi: number;
}

const range = (from: number, to: number, step = 1): number[] => {
  const out: number[] = [];
  for (let i = from; i < to; i += step) out.push(i);
  return out;
};

/** The proofs on sums of `q`, in wire order (the table at the top of this file). */
export function sumRanges(q: Question): SumRange[] {
  const [rows, columns] = gridShape(q);
  const everything = range(0, rows * columns);
  const ids = q.options.map((o) => o.id);
  let ranges: SumRange[];
  if (q.type === 'single') {
    ranges = [{ name: 'sum', plus: everything, minus: [], lo: 1, hi: 1 }];
  } else if (q.type === 'approval' || q.type === 'budget') {
    const { min, max } = countBounds(q);
    ranges = [{ name: 'sum', plus: everything, minus: [], lo: min, hi: max }];
  } else if (q.type === 'majority_judgment') {
    ranges = ids.map((o, r) => ({ name: `row ${o}`, plus: range(r * columns, (r + 1) * columns), minus: [], lo: 1, hi: 1 }));
  } else {
    const { min, max } = countBounds(q);
    const rowSums = ids.map((o, r) => ({ name: `row ${o}`, plus: range(r * columns, (r + 1) * columns), minus: [], lo: 0, hi: 1 }));
    const column = (p: number) => range(p, rows * columns, columns);
    // Column 1 only: non-increasing columns give every other column ≤ 1 (ballot/encrypted_ballot.py).
    const order = range(0, columns - 1).map((p) => ({
      name: `columns ${p + 1}-${p + 2}`,
      plus: column(p),
      minus: column(p + 1),
      lo: 0,
      hi: 1,
    }));
    ranges = [
      ...rowSums,
      { name: 'column 1', plus: column(0), minus: [], lo: 0, hi: 1 },
      ...order,
      { name: 'total', plus: everything, minus: [], lo: min, hi: max },
    ];
  }
  for (const r of ranges) {
    if (r.hi - r.lo + 1 > MAX_VALUES) {
      throw new EncryptedBallotError(
        `question ${q.id}: the ${r.name} range [${r.lo}, ${r.hi}] has more than ${MAX_VALUES} values, too many for an encrypted ballot`,
        q.id,
        r.name,
      );
    }
  }
  return ranges;
}

/** k = ⌈log2(envelope + 1)⌉: how many bits the budget's remainder takes (0 if none). */
export function envelopeBits(q: Question): number {
  return q.type === 'budget' && q.envelope != null ? BigInt(q.envelope).toString(2).length : 0;
}

/** The 0/1 cells of a (valid) clear answer, in wire order. */
export function cellValues(q: Question, choice: Choice): number[] {
  const [rows, columns] = gridShape(q);
  const cells = new Array<number>(rows * columns).fill(0);
  const index = new Map(q.options.map((o, i) => [o.id, i]));
  const at = (id: string): number => {
    const i = index.get(id);
    if (i === undefined) throw new EncryptedBallotError(`question ${q.id}: unknown option ${id}`, q.id);
    return i;
  };
  if (q.type === 'single') {
    cells[at(choice as string)] = 1;
  } else if (q.type === 'approval' || q.type === 'budget') {
    for (const option of choice as string[]) cells[at(option)] = 1;
  } else if (q.type === 'majority_judgment') {
    for (const [option, grade] of Object.entries(choice as Record<string, number>)) cells[at(option) * columns + grade] = 1;
  } else {
    (choice as string[]).forEach((option, position) => {
      cells[at(option) * columns + position] = 1;
    });
  }
  return cells;
}

// --- the encrypted form ----------------------------------------------------------------------

/** One question's cells and proofs (bits, bitProofs, envelopeProof for budget questions only). */
export interface EncryptedQuestion {
  readonly cells: readonly Ciphertext[];
  readonly cellProofs: readonly DisjunctiveProof[];
  readonly sumProofs: readonly DisjunctiveProof[];
  readonly bits: readonly Ciphertext[];
  readonly bitProofs: readonly DisjunctiveProof[];
  readonly envelopeProof: DisjunctiveProof | null;
}

/** A question's wire form (the top of this file); a type, not an interface, so that it is
 *  JSON (jcs.ts) for signing. */
export type EncryptedQuestionJson = {
  cells: string[];
  cell_proofs: string[];
  sum_proofs: string[];
  bits?: string[];
  bit_proofs?: string[];
  envelope_proof?: string;
};

export type EncryptedBallotJson = Record<string, EncryptedQuestionJson>;

/** A question's wire form, members in the order Python writes them. */
export function questionToJson(e: EncryptedQuestion): EncryptedQuestionJson {
  const out: EncryptedQuestionJson = {
    cells: e.cells.map((c) => b64uEncode(c.toBytes())),
    cell_proofs: e.cellProofs.map((p) => b64uEncode(p.toBytes())),
    sum_proofs: e.sumProofs.map((p) => b64uEncode(p.toBytes())),
  };
  if (e.envelopeProof) {
    out.bits = e.bits.map((c) => b64uEncode(c.toBytes()));
    out.bit_proofs = e.bitProofs.map((p) => b64uEncode(p.toBytes()));
    out.envelope_proof = b64uEncode(e.envelopeProof.toBytes());
  }
  return out;
}

/** Σ plus − Σ minus by point additions only. */
function difference(plus: readonly Ciphertext[], minus: readonly Ciphertext[]): Ciphertext {
  const [first, ...rest] = plus;
  if (!first) throw new RangeError('a sum of no cells');
  let { alpha, beta } = first;
  for (const c of rest) {
    alpha = alpha.add(c.alpha);
    beta = beta.add(c.beta);
  }
  for (const c of minus) {
    alpha = alpha.sub(c.alpha);
    beta = beta.sub(c.beta);
  }
  return new Ciphertext(alpha, beta);
}

/** D = Σ_j 2^j·B_j + Σ_i c_i·X_i − (0, E·G): Horner's rule on the bits (doubling is an
 *  addition), one variable-time multiplication per component and option (public values). */
function envelopeStatement(q: Question, cells: readonly Ciphertext[], bits: readonly Ciphertext[]): Ciphertext {
  const last = bits[bits.length - 1];
  if (!last || q.envelope == null) throw new RangeError('a budget question has an envelope');
  let { alpha, beta } = last;
  for (let j = bits.length - 2; j >= 0; j--) {
    const bit = bits[j]!;
    alpha = alpha.add(alpha).add(bit.alpha);
    beta = beta.add(beta).add(bit.beta);
  }
  q.options.forEach((option, i) => {
    const cost = Scalar.of(BigInt(option.cost ?? 0));
    const cell = cells[i]!;
    alpha = alpha.add(cell.alpha.timesPublic(cost));
    beta = beta.add(cell.beta.timesPublic(cost));
  });
  return new Ciphertext(alpha, beta.sub(messagePoint(BigInt(q.envelope))));
}

function sumScalars(values: readonly Scalar[]): Scalar {
  let total = Scalar.of(0);
  for (const v of values) total = total.add(v);
  return total;
}

function nonzero(rng: () => Scalar): Scalar {
  for (;;) {
    const nonce = rng();
    if (!nonce.isZero()) return nonce;
  }
}

/** Encrypt and prove `values` (the cells) as they are. A statement that cannot be true (a
 *  cell not 0/1, a sum out of its range, a budget over its envelope) throws RangeError. */
function encryptQuestion(q: Question, key: Point, context: Context, values: readonly number[], rng: () => Scalar): EncryptedQuestion {
  const [rows, columns] = gridShape(q);
  if (values.length !== rows * columns) throw new RangeError(`question ${q.id}: ${rows * columns} cells expected`);
  const nonces = values.map(() => nonzero(rng));
  const cells = values.map((v, i) => encrypt(v, key, nonces[i]!));
  // proveClaimed, not proveRange: each ciphertext was made just above from its message and
  // nonce, so re-encrypting to check it would cost two scalar multiplications for nothing; a
  // false claim would only give a proof that does not verify (range.ts).
  const cellProofs = cells.map((ciphertext, i) =>
    proveClaimed(context, { key, ciphertext, message: values[i]!, nonce: nonces[i]!, lo: 0, hi: 1, kind: ZERO_ONE_KIND, rng }),
  );
  const sumProofs = sumRanges(q).map((r) => {
    const total = r.plus.reduce((n, i) => n + values[i]!, 0) - r.minus.reduce((n, i) => n + values[i]!, 0);
    const nonce = sumScalars(r.plus.map((i) => nonces[i]!)).sub(sumScalars(r.minus.map((i) => nonces[i]!)));
    const ciphertext = difference(
      r.plus.map((i) => cells[i]!),
      r.minus.map((i) => cells[i]!),
    );
    return proveClaimed(context, { key, ciphertext, message: total, nonce, lo: r.lo, hi: r.hi, rng });
  });
  if (q.type !== 'budget') return { cells, cellProofs, sumProofs, bits: [], bitProofs: [], envelopeProof: null };
  // BigInt: an envelope may reach 10^12 and the spending 500·10^12 (ballot/questions.py).
  const costs = q.options.map((o) => BigInt(o.cost ?? 0));
  const spent = costs.reduce((n, c, i) => n + c * BigInt(values[i]!), 0n);
  const remainder = BigInt(q.envelope ?? 0) - spent;
  if (remainder < 0n) throw new RangeError(`question ${q.id}: the choices cost more than the envelope`);
  const width = envelopeBits(q);
  const bitValues = range(0, width).map((j) => Number((remainder >> BigInt(j)) & 1n));
  const bitNonces = bitValues.map(() => nonzero(rng));
  const bits = bitValues.map((b, j) => encrypt(b, key, bitNonces[j]!));
  const bitProofs = bits.map((ciphertext, j) =>
    proveClaimed(context, { key, ciphertext, message: bitValues[j]!, nonce: bitNonces[j]!, lo: 0, hi: 1, kind: ZERO_ONE_KIND, rng }),
  );
  const nonce = sumScalars(bitNonces.map((n, j) => Scalar.of(1n << BigInt(j)).mul(n))).add(
    sumScalars(costs.map((c, i) => Scalar.of(c).mul(nonces[i]!))),
  );
  const envelopeProof = proveClaimed(context, {
    key,
    ciphertext: envelopeStatement(q, cells, bits),
    message: 0,
    nonce,
    lo: 0,
    hi: 0,
    rng,
  });
  return { cells, cellProofs, sumProofs, bits, bitProofs, envelopeProof };
}

/** Encrypt a ballot's clear `choices` (checked first with the question rules of rules.ts) to
 *  the joint `key`, every proof bound to `context` (whose vk is the ballot's); returns the wire
 *  form. Call key.withTables() once first: every cell multiplies the key. */
export function encryptBallot(
  questions: readonly Question[],
  s: { key: Point; context: Context; choices: Choices; rng?: () => Scalar },
): EncryptedBallotJson {
  const problems = checkChoices(questions, s.choices);
  if (problems.length) throw new InvalidChoicesError(problems);
  const rng = s.rng ?? Scalar.random;
  const out: EncryptedBallotJson = {};
  for (const q of questions) {
    out[q.id] = questionToJson(encryptQuestion(q, s.key, s.context, cellValues(q, s.choices[q.id]!), rng));
  }
  return out;
}

// --- strict parsing ----------------------------------------------------------------------------

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function bytesOf(q: Question, part: string, text: unknown, size: number): Uint8Array {
  let data: Uint8Array;
  try {
    if (typeof text !== 'string') throw new TypeError();
    data = b64uDecode(text, part);
  } catch {
    throw new MalformedEncryptedBallotError(`question ${q.id}: ${part}: not canonical unpadded base64url`, q.id, part);
  }
  if (data.length !== size) {
    throw new MalformedEncryptedBallotError(`question ${q.id}: ${part}: ${size} bytes expected, got ${data.length}`, q.id, part);
  }
  return data;
}

function listOf(q: Question, member: string, value: unknown, count: number): unknown[] {
  if (!Array.isArray(value) || value.length !== count) {
    throw new MalformedEncryptedBallotError(`question ${q.id}: ${member} must be a list of ${count}`, q.id, member);
  }
  return value;
}

function refusedEncoding(q: Question, part: string, error: unknown): never {
  if (error instanceof GroupError) {
    throw new MalformedEncryptedBallotError(`question ${q.id}: ${part}: ${error.message}`, q.id, part);
  }
  throw error;
}

function ciphertextOf(q: Question, part: string, text: unknown): Ciphertext {
  const data = bytesOf(q, part, text, CIPHERTEXT_SIZE);
  try {
    return Ciphertext.fromBytes(data);
  } catch (error) {
    return refusedEncoding(q, part, error);
  }
}

function proofOf(q: Question, part: string, text: unknown, values: number): DisjunctiveProof {
  const data = bytesOf(q, part, text, values * BRANCH_SIZE);
  try {
    return DisjunctiveProof.fromBytes(data, values);
  } catch (error) {
    return refusedEncoding(q, part, error);
  }
}

function parseQuestion(q: Question, data: unknown): EncryptedQuestion {
  const budget = q.type === 'budget';
  const expected = (budget ? BUDGET_MEMBERS : MEMBERS).slice().sort();
  if (!isObject(data) || Object.keys(data).sort().join(',') !== expected.join(',')) {
    throw new MalformedEncryptedBallotError(
      `question ${q.id}: an object with exactly the members [${expected.map((m) => `'${m}'`).join(', ')}]`,
      q.id,
    );
  }
  const labels = cellLabels(q);
  const ranges = sumRanges(q);
  const cells = listOf(q, 'cells', data.cells, labels.length).map((text, i) => ciphertextOf(q, `cell ${labels[i]}`, text));
  const cellProofs = listOf(q, 'cell_proofs', data.cell_proofs, labels.length).map((text, i) =>
    proofOf(q, `cell ${labels[i]} proof`, text, 2),
  );
  const sumProofs = listOf(q, 'sum_proofs', data.sum_proofs, ranges.length).map((text, i) => {
    const r = ranges[i]!;
    return proofOf(q, `${r.name} proof`, text, r.hi - r.lo + 1);
  });
  if (!budget) return { cells, cellProofs, sumProofs, bits: [], bitProofs: [], envelopeProof: null };
  const width = envelopeBits(q);
  const bits = listOf(q, 'bits', data.bits, width).map((text, j) => ciphertextOf(q, `bit ${j}`, text));
  const bitProofs = listOf(q, 'bit_proofs', data.bit_proofs, width).map((text, j) => proofOf(q, `bit ${j} proof`, text, 2));
  const envelopeProof = proofOf(q, 'envelope proof', data.envelope_proof, 1);
  return { cells, cellProofs, sumProofs, bits, bitProofs, envelopeProof };
}

/** The wire form, strictly parsed (no proof checked: see verifyEncryptedBallot). */
export function parseEncryptedBallot(questions: readonly Question[], data: unknown): Map<string, EncryptedQuestion> {
  if (!isObject(data)) throw new MalformedEncryptedBallotError('an encrypted ballot is an object keyed by question');
  const expected = questions.map((q) => q.id);
  const extra = Object.keys(data).filter((k) => !expected.includes(k));
  if (extra.length) throw new MalformedEncryptedBallotError(`unknown question(s): ${extra.map((e) => e.slice(0, 64)).sort().join(', ')}`);
  const missing = expected.filter((k) => !Object.hasOwn(data, k));
  if (missing.length) throw new MalformedEncryptedBallotError(`no answer for question(s): ${missing.sort().join(', ')}`);
  return new Map(questions.map((q) => [q.id, parseQuestion(q, data[q.id])]));
}

// --- verification ------------------------------------------------------------------------------

function refusing(q: Question, part: string, check: () => void): void {
  try {
    check();
  } catch (error) {
    if (error instanceof ProofError) throw new BallotProofError(`question ${q.id}: ${part}: ${error.message}`, q.id, part);
    throw error;
  }
}

function verifyQuestion(q: Question, key: Point, context: Context, e: EncryptedQuestion): void {
  const labels = cellLabels(q);
  e.cells.forEach((ciphertext, i) => {
    refusing(q, `cell ${labels[i]}`, () => verifyZeroOne(context, { key, ciphertext, proof: e.cellProofs[i]! }));
  });
  sumRanges(q).forEach((r, i) => {
    const ciphertext = difference(
      r.plus.map((c) => e.cells[c]!),
      r.minus.map((c) => e.cells[c]!),
    );
    refusing(q, r.name, () => verifyRange(context, { key, ciphertext, proof: e.sumProofs[i]!, lo: r.lo, hi: r.hi }));
  });
  if (q.type !== 'budget' || !e.envelopeProof) return;
  e.bits.forEach((ciphertext, j) => {
    refusing(q, `bit ${j}`, () => verifyZeroOne(context, { key, ciphertext, proof: e.bitProofs[j]! }));
  });
  const statement = envelopeStatement(q, e.cells, e.bits);
  const proof = e.envelopeProof;
  refusing(q, 'envelope', () => verifyRange(context, { key, ciphertext: statement, proof, lo: 0, hi: 0 }));
}

/** Parse the wire form `data` and check every proof of it under the joint `key` and
 *  `context`; return the parsed ballot, or throw MalformedEncryptedBallotError or
 *  BallotProofError naming the question and the cell or proof refused. */
export function verifyEncryptedBallot(
  questions: readonly Question[],
  key: Point,
  context: Context,
  data: unknown,
): Map<string, EncryptedQuestion> {
  if (key.isIdentity()) throw new RangeError('the election key must not be the identity');
  const ballot = parseEncryptedBallot(questions, data);
  for (const q of questions) verifyQuestion(q, key, context, ballot.get(q.id)!);
  return ballot;
}

// --- what the booth needs from a v2 manifest ---------------------------------------------------

/** manifest_hash = SHA-256(JCS(manifest)) of the whole v2 manifest (§10.2): the context of
 *  every ballot proof. */
export function manifestHash(manifest: unknown): Uint8Array {
  return sha256(canonical(manifest as Json));
}

/** What an encrypted election's ballots are bound to, from its manifest (§10.2-10.3). */
export interface ElectionEncryption {
  /** The manifest's election id: the first member of every proof's context. */
  readonly election: string;
  /** encryption.joint_key, strictly decoded, with its multiplication tables. */
  readonly key: Point;
  /** SHA-256(JCS(manifest)) of the manifest as fetched. */
  readonly manifestHash: Uint8Array;
}

/** The joint key and the manifest hash of an encrypted election's manifest (format
 *  parvis-manifest-v2); EncryptedBallotError if it is not one or its key is refused. */
export function electionEncryption(manifest: { format?: unknown; election?: unknown; encryption?: unknown }): ElectionEncryption {
  if (manifest.format !== MANIFEST_V2 || !isObject(manifest.encryption)) {
    throw new EncryptedBallotError(`not an encrypted election's manifest (${MANIFEST_V2})`);
  }
  if (typeof manifest.election !== 'string') throw new EncryptedBallotError('the manifest names no election');
  const { group, joint_key: text } = manifest.encryption;
  if (group !== 'ed25519') throw new EncryptedBallotError('the election key is not in the group ed25519');
  if (typeof text !== 'string') throw new EncryptedBallotError('the manifest has no joint key');
  let key: Point;
  try {
    // Point.decode refuses the identity and every small-order point: a ballot "encrypted" to
    // them would be readable by anyone.
    key = Point.decode(b64uDecode(text, 'encryption.joint_key'));
  } catch (error) {
    throw new EncryptedBallotError(`encryption.joint_key: ${(error as Error).message}`);
  }
  return { election: manifest.election, key: key.withTables(), manifestHash: manifestHash(manifest) };
}

/** A voter's ballot in an encrypted election: `choices` encrypted and proved to the joint key,
 *  every proof's context (the election, the manifest hash, `vk`) naming the voting right's key
 *  vk, so that the cells cannot be cast again under another token. */
export function encryptForVoter(
  encryption: ElectionEncryption,
  questions: readonly Question[],
  s: { vk: Uint8Array; choices: Choices; rng?: () => Scalar },
): EncryptedBallotJson {
  const context = new Context(encryption.election, encryption.manifestHash, s.vk);
  return encryptBallot(questions, { key: encryption.key, context, choices: s.choices, ...(s.rng ? { rng: s.rng } : {}) });
}

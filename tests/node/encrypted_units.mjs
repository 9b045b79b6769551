// Driver for tests/node/test_encrypted_interop.py: the booth's encrypted-ballot code
// (web/src/lib/{group,transcript,elgamal,range,zeroone}.ts, bundled for Node by the test with
// esbuild) on requests from Python, one JSON line in, one out. Binary values are base64url
// without padding; {"error": "...", "name": "..."} means the function threw.
//
//   node tests/node/encrypted_units.mjs BUNDLE.mjs

import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const lib = await import(pathToFileURL(process.argv[2]).href);
const enc = (b) => lib.b64uEncode(b);
const dec = (s) => lib.b64uDecode(s);
const utf8 = new TextEncoder();

const context = (c) => new lib.Context(c.election, dec(c.manifest), dec(c.vk));

// The seeded prover's randomness of tests/ballot/test_proofs.py (`seeded`), so both provers
// draw the same scalars in the same order and must produce the same bytes.
function seeded(seed) {
  let counter = 0;
  return () => {
    const n = new Uint8Array(4);
    new DataView(n.buffer).setUint32(0, counter++, false);
    return lib.hashToScalar(utf8.encode('test rng'), dec(seed), n);
  };
}

function prove(req, ctx, key, ciphertext, nonce, rng) {
  if (req.kind === 'zero-one') {
    return lib.proveZeroOne(ctx, { key, ciphertext, bit: req.message, nonce, ...(rng ? { rng } : {}) });
  }
  return lib.proveRange(ctx, {
    key, ciphertext, message: req.message, nonce, lo: req.lo, hi: req.hi, ...(rng ? { rng } : {}),
  });
}

function verify(req) {
  const ctx = context(req.context);
  const key = lib.Point.decode(dec(req.key));
  const ciphertext = lib.Ciphertext.fromBytes(dec(req.ciphertext));
  if (req.kind === 'zero-one') {
    lib.verifyZeroOne(ctx, { key, ciphertext, proof: lib.decodeZeroOne(dec(req.proof)) });
  } else {
    const proof = lib.DisjunctiveProof.fromBytes(dec(req.proof), req.hi - req.lo + 1);
    lib.verifyRange(ctx, { key, ciphertext, proof, lo: req.lo, hi: req.hi });
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function handle(req) {
  switch (req.op) {
    case 'hash_to_scalar':
      return { scalar: enc(lib.hashToScalar(...req.parts.map(dec)).encoded) };
    case 'decode_points':
      return {
        results: req.points.map((p) => {
          try {
            return enc(lib.Point.decode(dec(p)).encoded);
          } catch (err) {
            return { error: String(err.message), name: err.name };
          }
        }),
      };
    case 'decode_scalar':
      return { scalar: enc(lib.Scalar.decode(dec(req.scalar)).encoded) };
    case 'base_times':
      return { point: enc(lib.Point.baseTimes(lib.Scalar.decode(dec(req.scalar))).encoded) };
    case 'encrypt_and_prove': {
      // What the booth does (encryptCell for a cell, with the key's tables): a CSPRNG nonce,
      // the ciphertext, the proof with CSPRNG randomness.
      const ctx = context(req.context);
      const key = lib.Point.decode(dec(req.key));
      if (req.kind === 'zero-one') {
        const { ciphertext, proof } = lib.encryptCell(ctx, key.withTables(), req.message);
        return { ciphertext: enc(ciphertext.toBytes()), proof: enc(proof.toBytes()) };
      }
      const nonce = lib.Scalar.random();
      const ciphertext = lib.encrypt(req.message, key, nonce);
      const proof = prove(req, ctx, key, ciphertext, nonce, undefined);
      return { ciphertext: enc(ciphertext.toBytes()), proof: enc(proof.toBytes()) };
    }
    case 'prove_seeded': {
      const ctx = context(req.context);
      const key = lib.Point.decode(dec(req.key));
      const nonce = lib.Scalar.decode(dec(req.nonce));
      const ciphertext = lib.encrypt(req.message, key, nonce);
      const proof = prove(req, ctx, key, ciphertext, nonce, seeded(req.seed));
      return { ciphertext: enc(ciphertext.toBytes()), proof: enc(proof.toBytes()) };
    }
    case 'prove_claimed': {
      // A cheating booth: encrypts req.message and runs the honest algorithm on req.claimed.
      const ctx = context(req.context);
      const key = lib.Point.decode(dec(req.key));
      const nonce = lib.Scalar.random();
      const ciphertext = lib.encrypt(req.message, key, nonce);
      const proof = lib.proveClaimed(ctx, {
        key, ciphertext, message: req.claimed, nonce, lo: req.lo, hi: req.hi, kind: req.kind,
      });
      return { ciphertext: enc(ciphertext.toBytes()), proof: enc(proof.toBytes()) };
    }
    case 'verify':
      verify(req);
      return { ok: true };
    case 'encrypt_ballot': {
      // A whole ballot as the booth makes it (encryptBallot over the manifest's questions),
      // with CSPRNG randomness, or the seeded randomness when req.seed is given.
      const ctx = context(req.context);
      const key = lib.Point.decode(dec(req.key)).withTables();
      const rng = req.seed ? seeded(req.seed) : undefined;
      return { encrypted: lib.encryptBallot(req.questions, { key, context: ctx, choices: req.choices, ...(rng ? { rng } : {}) }) };
    }
    case 'verify_ballot': {
      try {
        lib.verifyEncryptedBallot(req.questions, lib.Point.decode(dec(req.key)), context(req.context), req.encrypted);
      } catch (err) {
        return { error: String(err.message), name: err.name, question: err.question ?? null, part: err.part ?? null };
      }
      return { ok: true };
    }
    case 'manifest_hash':
      return { hash: enc(lib.manifestHash(req.manifest)) };
    case 'sum': {
      const total = lib.sumCiphertexts(req.ciphertexts.map((c) => lib.Ciphertext.fromBytes(dec(c))));
      return { ciphertext: enc(total.toBytes()) };
    }
    case 'bench': {
      // req.runs cells: encrypt and prove (encryptCell), then decode and verify, each timed in
      // CPU time of this process (user + system, process.cpuUsage), as bench/group.py does in
      // Python. Returns the median per cell in ms, and the key's tables once if req.tables.
      const ctx = context(req.context);
      const key = lib.Point.decode(dec(req.key));
      const cpu = () => {
        const { user, system } = process.cpuUsage();
        return (user + system) / 1000;
      };
      let tables_ms = 0;
      if (req.tables) {
        const t = cpu();
        key.withTables(); // once per ballot, as the booth does
        tables_ms = cpu() - t;
      }
      const prove_ms = [];
      const verify_ms = [];
      for (let i = 0; i < req.runs; i++) {
        let t = cpu();
        const { ciphertext, proof } = lib.encryptCell(ctx, key, i % 2);
        const cell = ciphertext.toBytes();
        const wire = proof.toBytes();
        prove_ms.push(cpu() - t);
        t = cpu();
        lib.verifyZeroOne(ctx, { key, ciphertext: lib.Ciphertext.fromBytes(cell), proof: lib.decodeZeroOne(wire) });
        verify_ms.push(cpu() - t);
      }
      return { tables_ms, prove_ms: median(prove_ms), verify_ms: median(verify_ms) };
    }
    case 'bench_ballot': {
      // req.runs whole ballots (encryptBallot on req.questions and req.choices), each timed in
      // CPU time of this process and in wall time; the key's tables once, before, as the booth
      // makes them when the page opens. Medians in ms.
      const ctx = context(req.context);
      const cpu = () => {
        const { user, system } = process.cpuUsage();
        return (user + system) / 1000;
      };
      let t = cpu();
      const key = lib.Point.decode(dec(req.key)).withTables();
      const tables_ms = cpu() - t;
      const cpu_ms = [];
      const wall_ms = [];
      for (let i = 0; i < req.runs; i++) {
        t = cpu();
        const w = performance.now();
        lib.encryptBallot(req.questions, { key, context: ctx, choices: req.choices });
        wall_ms.push(performance.now() - w);
        cpu_ms.push(cpu() - t);
      }
      return { tables_ms, cpu_ms: median(cpu_ms), wall_ms: median(wall_ms) };
    }
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  let answer;
  try {
    answer = handle(JSON.parse(line));
  } catch (err) {
    answer = { error: String(err?.message ?? err), name: err?.name ?? 'Error' };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}

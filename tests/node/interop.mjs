// Interop driver for tests/ballot/test_interop_node.py: an independent implementation of
// RFC 9474 (@cloudflare/blindrsa-ts) and of Ed25519 / SHA-2 (@noble/ed25519, @noble/hashes),
// the packages the browser booth will use.
//
// Reads JSON requests on stdin, one per line, and writes one JSON answer per line on stdout,
// in order, until stdin closes (the test keeps one process for the whole module: Node's
// start-up costs more than the operations). Binary values are base64url without padding.
// {"error": "..."} means the library refused (e.g. an invalid signature); a crash exits
// non-zero with a message on stderr.
//
//   {"op": "blind", "spki", "variant", "msg"}             -> {"prepared", "blinded_msg", "inv"}
//   {"op": "finalize", "spki", "variant", "prepared", "blind_sig", "inv"} -> {"sig"}
//   {"op": "verify", "spki", "variant", "prepared", "sig"} -> {"valid": bool}
//   {"op": "ed25519_sign", "seed", "message"}             -> {"public_key", "signature"}
//   {"op": "sha256", "message"}                           -> {"digest"}
//
// Run from the repository root: node tests/node/interop.mjs (packages come from web/).

import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { webcrypto } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
// Resolve packages from web/node_modules, wherever the script is started from.
const requireFromWeb = createRequire(path.join(here, '..', '..', 'web', 'package.json'));
const load = async (name) => import(requireFromWeb.resolve(name));

const { RSABSSA } = await load('@cloudflare/blindrsa-ts');
const ed = await load('@noble/ed25519');
const { sha256, sha512 } = await load('@noble/hashes/sha2.js');
ed.hashes.sha512 = sha512;

const b64u = {
  decode: (s) => new Uint8Array(Buffer.from(s, 'base64url')),
  encode: (b) => Buffer.from(b).toString('base64url'),
};

const SUITES = {
  'RSABSSA-SHA384-PSS-Randomized': RSABSSA.SHA384.PSS.Randomized,
  'RSABSSA-SHA384-PSSZERO-Randomized': RSABSSA.SHA384.PSSZero.Randomized,
  'RSABSSA-SHA384-PSS-Deterministic': RSABSSA.SHA384.PSS.Deterministic,
  'RSABSSA-SHA384-PSSZERO-Deterministic': RSABSSA.SHA384.PSSZero.Deterministic,
};

function suite(variant) {
  const make = SUITES[variant];
  if (!make) throw new Error(`unknown variant ${variant}`);
  return make();
}

async function publicKey(spki) {
  // blindrsa-ts requires an extractable RSA-PSS key whose hash matches the suite.
  return webcrypto.subtle.importKey('spki', b64u.decode(spki), { name: 'RSA-PSS', hash: 'SHA-384' }, true, [
    'verify',
  ]);
}

async function handle(req) {
  switch (req.op) {
    case 'blind': {
      const s = suite(req.variant);
      const prepared = s.prepare(b64u.decode(req.msg));
      const { blindedMsg, inv } = await s.blind(await publicKey(req.spki), prepared);
      return { prepared: b64u.encode(prepared), blinded_msg: b64u.encode(blindedMsg), inv: b64u.encode(inv) };
    }
    case 'finalize': {
      const s = suite(req.variant);
      const sig = await s.finalize(
        await publicKey(req.spki),
        b64u.decode(req.prepared),
        b64u.decode(req.blind_sig),
        b64u.decode(req.inv),
      );
      return { sig: b64u.encode(sig) };
    }
    case 'verify': {
      const s = suite(req.variant);
      const valid = await s.verify(await publicKey(req.spki), b64u.decode(req.sig), b64u.decode(req.prepared));
      return { valid };
    }
    case 'ed25519_sign': {
      const seed = b64u.decode(req.seed);
      const message = b64u.decode(req.message);
      return {
        public_key: b64u.encode(ed.getPublicKey(seed)),
        signature: b64u.encode(ed.sign(message, seed)),
      };
    }
    case 'sha256':
      return { digest: b64u.encode(sha256(b64u.decode(req.message))) };
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (!line.trim()) continue;
  let answer;
  try {
    answer = await handle(JSON.parse(line));
  } catch (err) {
    answer = { error: String(err && err.message ? err.message : err) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}

// Driver for tests/node/booth_test.py: runs the booth's pure functions (web/src/lib, bundled
// for Node by the test with esbuild) on requests from Python, one JSON line in, one out.
// Binary values are base64url without padding; {"error": "..."} means the function threw.
//
//   node tests/node/booth_units.mjs BUNDLE.mjs

import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const lib = await import(pathToFileURL(process.argv[2]).href);
const enc = (b) => lib.b64uEncode(b);
const dec = (s) => lib.b64uDecode(s);
const pending = new Map();
let nextHandle = 1;

async function handle(req) {
  switch (req.op) {
    case 'jcs':
      return { text: lib.canonicalText(req.value) };
    case 'jcs_json': // the value as JSON text, for what Python cannot send as a value
      return { text: lib.canonicalText(JSON.parse(req.json)) };
    case 'b64u':
      return { bytes: enc(lib.b64uDecode(req.text)) };
    case 'b64':
      return { bytes: enc(lib.b64Decode(req.text)) };
    case 'election_id':
      return { bytes: enc(lib.electionIdBytes(req.text)), text: lib.electionIdText(lib.electionIdBytes(req.text)) };
    case 'token_message': {
      const msg = lib.tokenMessage(lib.electionIdBytes(req.election), dec(req.vk), dec(req.nonce));
      const parts = lib.parseTokenMessage(msg);
      return { msg: enc(msg), vk: enc(parts.voterKey), nullifier: enc(lib.nullifier(msg)) };
    }
    case 'tracking_code':
      return { code: lib.trackingCode(dec(req.leaf)) };
    case 'normalise':
      return { code: lib.normaliseTrackingCode(req.input) };
    case 'inclusion':
      lib.verifyInclusion(dec(req.leaf), req.index, req.size, req.proof.map(dec), dec(req.root));
      return { ok: true };
    case 'inclusion_many':
      return {
        results: req.cases.map((c) => {
          try {
            return enc(lib.rootFromInclusion(dec(c.leaf), c.index, c.size, c.proof.map(dec)));
          } catch (err) {
            return { error: String(err.message) };
          }
        }),
      };
    case 'verifier_key': {
      const key = lib.parseVerifierKey(req.text);
      return { name: key.name, key_id: enc(key.keyId), public_key: enc(key.publicKey) };
    }
    case 'checkpoint': {
      const cp = lib.openCheckpoint(req.note, req.origin, lib.parseVerifierKey(req.key));
      return { origin: cp.origin, size: cp.size, root: enc(cp.rootHash) };
    }
    case 'promise': {
      const p = lib.verifyPromise(req.note, req.board, dec(req.leaf));
      return { integrate_by: p.integrateBy };
    }
    case 'rules':
      return { problems: lib.checkChoices(req.questions, req.choices) };
    case 'committed_key':
      return { spki: enc(lib.committedKey(req.manifest, req.election, req.page_key_id)) };
    case 'begin': {
      const p = await lib.beginIssuance(dec(req.spki), req.election);
      const id = nextHandle++;
      pending.set(id, p);
      return { handle: id, blinded_msg: enc(p.blindedMsg) };
    }
    case 'finish':
      return { right: await pending.get(req.handle).finish(dec(req.blind_sig)) };
    case 'parse_right':
      return { right: lib.parseVotingRight(req.right, req.election) };
    case 'sign': {
      const { request, right } = lib.signBallot(req.right, req.encrypted ? { encrypted: req.encrypted } : { choices: req.choices });
      return { request, right, leaf_hash: enc(lib.castLeafHash(request)) };
    }
    case 'sign_encrypted': {
      // What the booth does in an encrypted election (booth.ts): the joint key and manifest
      // hash from the manifest, the choices encrypted under the right's vk, then signed.
      const encryption = lib.electionEncryption(req.manifest);
      const encrypted = lib.encryptForVoter(encryption, req.manifest.questions, { vk: lib.rightVoterKey(req.right), choices: req.choices });
      const { request, right } = lib.signBallot(req.right, { encrypted });
      return { request, right, leaf_hash: enc(lib.castLeafHash(request)) };
    }
    case 'verify_token':
      return { valid: await lib.verifyToken(dec(req.spki), req.right) };
    case 'receipt': {
      lib.checkReceiptLeaf(dec(req.leaf), req.receipt_leaf, req.code);
      const cp = lib.verifyInclusionEvidence(
        { leafHash: dec(req.leaf), index: req.index, treeSize: req.tree_size, proof: req.proof, checkpoint: req.checkpoint },
        req.board,
      );
      return { size: cp.size };
    }
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
    answer = { error: `${err?.name ?? 'Error'}: ${err?.message ?? err}`, reason: err?.reason ?? null };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}

// bench/encrypted.py's ballot for headless Chromium, with the booth's TypeScript (web/src/lib,
// bundled as the global `parvisLib`), in the wire form of ballot/encrypted_ballot.py
// (ballot-secrecy.md §1 "Ballot"), two ways:
//   - "booth": the booth's own encryptBallot (web/src/lib/encrypted_ballot.ts), when the library
//     has it;
//   - "composed": from the primitives, for a library without it: 0/1 cells (encrypt +
//     proveClaimed under kind "zero-one", as zeroone.ts encryptCell does, keeping the nonces), the
//     range proof of their sum, and for a budget the bits of the remainder with their 0/1 proofs
//     and the proof that the envelope's equation encrypts 0.
//
// Called by page.evaluate with {key, context, definition, question, choice, bits, runs};
// returns, for each way, the wire form of its last ballot (Python verifies it) and the wall time
// of each ballot in ms (performance.now: a page has no CPU clock).
(request) => {
  const lib = globalThis.parvisLib;
  const { Scalar, Point, encrypt, proveClaimed, sumCiphertexts, b64uDecode, b64uEncode } = lib;
  const context = new lib.Context(
    request.context.election,
    b64uDecode(request.context.manifest),
    b64uDecode(request.context.vk),
  );
  const q = request.question; // {id, lo, hi, costs: [..] | null, envelope: n | null}
  const nonzero = () => {
    let r = Scalar.random();
    while (r.isZero()) r = Scalar.random();
    return r;
  };
  const zeroOne = (key, bit) => {
    const nonce = nonzero();
    const ciphertext = encrypt(bit, key, nonce);
    const proof = proveClaimed(context, { key, ciphertext, message: bit, nonce, lo: 0, hi: 1, kind: 'zero-one' });
    return { nonce, ciphertext, proof };
  };
  const total = (scalars) => scalars.reduce((a, b) => a.add(b), Scalar.of(0));

  function ballot() {
    // A fresh decoding and tables per ballot, as the booth pays them for each ballot.
    const key = Point.decode(b64uDecode(request.key)).withTables();
    const cells = request.bits.map((bit) => zeroOne(key, bit));
    const count = request.bits.reduce((a, b) => a + b, 0);
    const sum = proveClaimed(context, {
      key,
      ciphertext: sumCiphertexts(cells.map((c) => c.ciphertext)),
      message: count,
      nonce: total(cells.map((c) => c.nonce)),
      lo: q.lo,
      hi: q.hi,
    });
    const out = {
      cells: cells.map((c) => b64uEncode(c.ciphertext.toBytes())),
      cell_proofs: cells.map((c) => b64uEncode(c.proof.toBytes())),
      sum_proofs: [b64uEncode(sum.toBytes())],
    };
    if (q.envelope === null) return out;
    const spent = q.costs.reduce((a, cost, i) => a + cost * request.bits[i], 0);
    const remainder = q.envelope - spent;
    const width = q.envelope.toString(2).length;
    const bits = [];
    for (let j = 0; j < width; j++) bits.push(zeroOne(key, Math.floor(remainder / 2 ** j) % 2));
    // D = Σ 2^j·B_j + Σ c_i·X_i − (0, E·G): Horner over the bits, then the costs.
    let alpha = bits[width - 1].ciphertext.alpha;
    let beta = bits[width - 1].ciphertext.beta;
    for (let j = width - 2; j >= 0; j--) {
      alpha = alpha.add(alpha).add(bits[j].ciphertext.alpha);
      beta = beta.add(beta).add(bits[j].ciphertext.beta);
    }
    cells.forEach((cell, i) => {
      const cost = Scalar.of(q.costs[i]);
      alpha = alpha.add(cell.ciphertext.alpha.times(cost));
      beta = beta.add(cell.ciphertext.beta.times(cost));
    });
    const statement = new lib.Ciphertext(alpha, beta.sub(lib.messagePoint(q.envelope)));
    const nonce = total([
      ...bits.map((b, j) => Scalar.of(2n ** BigInt(j)).mul(b.nonce)),
      ...cells.map((c, i) => Scalar.of(q.costs[i]).mul(c.nonce)),
    ]);
    const envelope = proveClaimed(context, { key, ciphertext: statement, message: 0, nonce, lo: 0, hi: 0 });
    out.bits = bits.map((b) => b64uEncode(b.ciphertext.toBytes()));
    out.bit_proofs = bits.map((b) => b64uEncode(b.proof.toBytes()));
    out.envelope_proof = b64uEncode(envelope.toBytes());
    return out;
  }

  function booth() {
    const key = Point.decode(b64uDecode(request.key)).withTables();
    return lib.encryptBallot([request.definition], { key, context, choices: { [q.id]: request.choice } });
  }

  const timed = (make) => {
    make(); // one untimed ballot first: the JIT warms up on it, whichever way runs first
    const ms = [];
    let wire = null;
    for (let run = 0; run < request.runs; run++) {
      const start = performance.now();
      wire = make();
      ms.push(performance.now() - start);
    }
    return { ballot: wire, ms };
  };
  const composed = timed(() => ({ [q.id]: ballot() }));
  return {
    composed,
    booth: typeof lib.encryptBallot === 'function' ? timed(booth) : null,
  };
}

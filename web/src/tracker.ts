// The receipt tracker (ballot/templates/tracker.html): looks a tracking code up and checks,
// on the citizen's device, that the board includes the ballot:
// - the leaf hash the server returns gives back the tracking code typed (§5);
// - the checkpoint is signed by the board key of the manifest (C2SP signed note, Ed25519);
// - the RFC 9162 §2.1.3.2 inclusion proof leads from the leaf to the checkpoint's root.
// If this browser voted, the board key is also compared with the one seen when voting.

import { ApiError, byId, fetchJson, Messages, scriptStarted, setText, show } from './dom.js';
import { b64uDecode, hex } from './lib/bytes.js';
import { parseVerifierKey } from './lib/note.js';
import { ReceiptError, verifyInclusionEvidence } from './lib/receipt.js';
import { normaliseTrackingCode, trackingCode } from './lib/tracking.js';
import * as store from './store.js';

interface Manifest {
  election: string;
  board: { origin: string; key: string };
}

interface ReceiptLookup {
  index: number;
  leaf_hash: string;
  tree_size: number;
  inclusion_proof: string[];
  checkpoint: string;
}

class Tracker {
  private readonly result = byId('tracker-result');
  private readonly input = byId<HTMLInputElement>('tracking-code-input');

  constructor(
    private readonly election: string,
    private readonly manifestUrl: string,
    private readonly receiptsUrl: string,
    private readonly m: Messages,
  ) {}

  start(): void {
    const form = byId<HTMLFormElement>('tracker-form');
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.check(this.input.value);
    });
    const fromUrl = new URLSearchParams(window.location.search).get('code');
    const remembered = store.loadReceipt(this.election)?.tracking_code;
    const initial = fromUrl ?? remembered;
    if (initial) {
      this.input.value = initial;
      if (fromUrl) void this.check(fromUrl);
    }
  }

  private verdict(ok: boolean, title: string, lines: string[]): void {
    this.result.replaceChildren();
    const heading = document.createElement('p');
    heading.id = 'tracker-verdict';
    heading.className = ok ? 'verdict ok' : 'verdict error';
    heading.textContent = title;
    this.result.append(heading);
    if (lines.length) {
      const list = document.createElement('ul');
      for (const line of lines) {
        const item = document.createElement('li');
        item.textContent = line;
        list.append(item);
      }
      this.result.append(list);
    }
    show(this.result);
  }

  private async check(input: string): Promise<void> {
    const code = normaliseTrackingCode(input);
    if (!code) {
      this.verdict(false, this.m.t('badCode'), []);
      this.input.setAttribute('aria-invalid', 'true');
      this.input.focus();
      return;
    }
    this.input.removeAttribute('aria-invalid');
    this.input.value = code;
    setText(this.result, this.m.t('checking'));
    show(this.result);
    try {
      const manifest = await fetchJson<Manifest>(this.manifestUrl, { credentials: 'omit' });
      const lookup = await fetchJson<ReceiptLookup>(this.receiptsUrl + encodeURIComponent(code), { credentials: 'omit' });
      const leaf = b64uDecode(lookup.leaf_hash, 'leaf_hash');
      if (trackingCode(leaf) !== code) throw new ReceiptError('code', 'the leaf hash does not give this tracking code');
      const checkpoint = verifyInclusionEvidence(
        {
          leafHash: leaf,
          index: lookup.index,
          treeSize: lookup.tree_size,
          proof: lookup.inclusion_proof,
          checkpoint: lookup.checkpoint,
        },
        manifest.board,
      );
      const key = parseVerifierKey(manifest.board.key);
      const lines = [
        this.m.t('detailIndex', { index: lookup.index, size: checkpoint.size }),
        this.m.t('detailKey', { origin: checkpoint.origin, keyid: hex(key.keyId) }),
        this.m.t('detailRoot', { root: hex(checkpoint.rootHash) }),
      ];
      const seen = store.loadReceipt(this.election);
      if (seen && (seen.board_key !== manifest.board.key || seen.board_origin !== manifest.board.origin)) {
        this.verdict(false, this.m.t('boardKeyChanged'), lines);
        return;
      }
      this.verdict(true, this.m.t('included', { code }), lines);
    } catch (err) {
      if (err instanceof ApiError && err.slug === 'unknown-receipt') {
        this.verdict(false, this.m.t('unknownCode', { code }), []);
      } else if (err instanceof ReceiptError) {
        this.verdict(false, this.m.t('proofFailed'), [err.message]);
      } else {
        this.verdict(false, this.m.t('lookupFailed'), [err instanceof Error ? err.message : String(err)]);
      }
    }
    this.result.focus();
  }
}

function main(): void {
  const root = document.getElementById('tracker');
  if (!root) return;
  scriptStarted();
  const m = new Messages(byId('parvis-messages'));
  const { election, manifestUrl, receiptsUrl } = root.dataset;
  if (!election || !manifestUrl || !receiptsUrl) throw new Error('#tracker lacks its data-* attributes');
  byId('tracker-form').hidden = false;
  new Tracker(election, manifestUrl, receiptsUrl, m).start();
}

main();

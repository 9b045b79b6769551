// The receipt tracker (ballot/templates/tracker.html): looks a tracking code up and checks,
// on the citizen's device, that the board includes the ballot:
// - the leaf hash the server returns gives back the tracking code typed (§5);
// - the checkpoint is signed by the board key of the manifest (C2SP signed note, Ed25519);
// - the RFC 9162 §2.1.3.2 inclusion proof leads from the leaf to the checkpoint's root.
// If this browser voted, the board key is also compared with the one seen when voting.
// A ballot cast since the last batch boundary is pending (docs/ballot-api.md): the page says
// when it will appear and checks again then. A ballot whose voting right has a later ballot
// on the board is replaced (`superseded`): still on the board, proof and all, but not counted.
//
// The code comes from the fragment (#code=…, the booth's link) or, for older links, the
// query (?code=…). The fragment is never sent to the server, and the receipt lookup is made
// with credentials omitted: the code never travels in a request carrying the session cookie.

import { ApiError, byId, fetchJson, Messages, scriptStarted, setText, show } from './dom.js';
import { b64uDecode, hex } from './lib/bytes.js';
import { parseVerifierKey } from './lib/note.js';
import { ReceiptError, verifyInclusionEvidence } from './lib/receipt.js';
import { normaliseTrackingCode, trackingCode } from './lib/tracking.js';
import { clockTime } from './obtain.js';
import * as store from './store.js';

interface Manifest {
  election: string;
  board: { origin: string; key: string };
}

interface ReceiptLookup {
  status?: 'pending' | 'included';
  superseded?: boolean;
  appears_at?: string | null;
  index: number | null;
  leaf_hash: string;
  tree_size: number | null;
  inclusion_proof: string[] | null;
  checkpoint: string | null;
}

/** What each failed check means, in the page language (the error's own message is a
 * developer's English, for the console only). */
const REASONS: Record<ReceiptError['reason'], string> = {
  'leaf': 'reasonLeaf',
  'code': 'reasonCode',
  'proof': 'reasonProof',
  'checkpoint': 'reasonCheckpoint',
  'size': 'reasonSize',
  'promise': 'reasonPromise',
};

/** The tracking code in the URL: `#code=` (fragment, never sent) first, then `?code=`. */
function codeFromUrl(): string | null {
  const fragment = new URLSearchParams(window.location.hash.replace(/^#/, '')).get('code');
  return fragment ?? new URLSearchParams(window.location.search).get('code');
}

/** A second check after a pending ballot's boundary: a few seconds late, never all at once. */
const RECHECK_SPREAD_MS = 20_000;
const RECHECK_HORIZON_MS = 2 * 60 * 60 * 1000;

class Tracker {
  private readonly result = byId('tracker-result');
  private readonly input = byId<HTMLInputElement>('tracking-code-input');
  private recheck: number | undefined;

  constructor(
    private readonly election: string,
    private readonly manifestUrl: string,
    private readonly receiptsUrl: string,
    private readonly m: Messages,
  ) {}

  async start(): Promise<void> {
    const form = byId<HTMLFormElement>('tracker-form');
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.check(this.input.value);
    });
    const fromUrl = codeFromUrl();
    if (fromUrl) {
      this.input.value = fromUrl;
      await this.check(fromUrl);
      return;
    }
    const remembered = (await store.loadReceipt(this.election))?.tracking_code;
    if (remembered && !this.input.value) this.input.value = remembered;
  }

  private verdict(state: 'ok' | 'pending' | 'superseded' | 'error', title: string, lines: string[]): void {
    this.result.replaceChildren();
    const heading = document.createElement('p');
    heading.id = 'tracker-verdict';
    heading.className = `verdict ${state}`;
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

  private async check(input: string, focus = true): Promise<void> {
    const code = normaliseTrackingCode(input);
    window.clearTimeout(this.recheck);
    if (!code) {
      this.verdict('error', this.m.t('badCode'), []);
      this.input.setAttribute('aria-invalid', 'true');
      this.input.focus();
      return;
    }
    this.input.removeAttribute('aria-invalid');
    this.input.value = code;
    // The code the page shows stays in the fragment only (a reload checks it again).
    history.replaceState(null, '', `${window.location.pathname}#code=${encodeURIComponent(code)}`);
    setText(this.result, this.m.t('checking'));
    show(this.result);
    try {
      const manifest = await fetchJson<Manifest>(this.manifestUrl, { credentials: 'omit' });
      const lookup = await fetchJson<ReceiptLookup>(this.receiptsUrl + encodeURIComponent(code), { credentials: 'omit' });
      const leaf = b64uDecode(lookup.leaf_hash, 'leaf_hash');
      if (trackingCode(leaf) !== code) throw new ReceiptError('code', 'the leaf hash does not give this tracking code');
      if (lookup.status === 'pending' || !lookup.checkpoint || !lookup.inclusion_proof || lookup.index == null) {
        this.pending(code, lookup);
        return;
      }
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
      const seen = await store.loadReceipt(this.election);
      if (seen && (seen.board_key !== manifest.board.key || seen.board_origin !== manifest.board.origin)) {
        this.verdict('error', this.m.t('boardKeyChanged'), lines);
        return;
      }
      if (lookup.superseded === true) {
        this.verdict('superseded', this.m.t('superseded'), [this.m.t('supersededDetail', { code }), ...lines]);
        return;
      }
      this.verdict('ok', this.m.t('included', { code }), lines);
    } catch (err) {
      if (err instanceof ApiError && err.slug === 'unknown-receipt') {
        this.verdict('error', this.m.t('unknownCode', { code }), []);
      } else if (err instanceof ReceiptError) {
        console.error(err);
        this.verdict('error', this.m.t('proofFailed'), [this.m.t(REASONS[err.reason])]);
      } else {
        console.error(err);
        this.verdict('error', this.m.t('lookupFailed'), []);
      }
    } finally {
      if (focus) this.result.focus();
    }
  }

  /** Recorded, not yet on the board: say when it appears, and look again then. */
  private pending(code: string, lookup: ReceiptLookup): void {
    const appears = lookup.appears_at ? Date.parse(lookup.appears_at) : Number.NaN;
    if (!Number.isFinite(appears)) {
      this.verdict('pending', this.m.t('pendingNoTime', { code }), [this.m.t('pendingLater')]);
      return;
    }
    this.verdict('pending', this.m.t('pending', { code, time: clockTime(appears, this.m.lang) }), [this.m.t('pendingLater')]);
    // One more look, a little after a boundary still ahead (spread so that pages opened
    // together do not all ask at once); a pool that stays pending is not polled forever.
    const wait = appears - Date.now();
    if (wait > 0 && wait < RECHECK_HORIZON_MS) {
      const [word] = crypto.getRandomValues(new Uint32Array(1));
      const spread = 2_000 + ((word ?? 0) % RECHECK_SPREAD_MS);
      this.recheck = window.setTimeout(() => void this.check(code, false), wait + spread);
    }
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
  void new Tracker(election, manifestUrl, receiptsUrl, m).start();
}

main();

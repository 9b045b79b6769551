// The election page (ballot/templates/ballot/election.html): "get my voting right now, vote
// later on this device" (ballot-secrecy.md §2, "voting right early"). It obtains and stores
// the voting right only (web/src/obtain.ts); the ballot is filled and cast later in the booth
// of this same browser, which finds the right in IndexedDB and needs no session to cast.
//
// As in the booth, the manifest is fetched with credentials omitted and its issuer key is
// checked against the key id this page was served with before any secret exists.

import { byId, fetchJson, Messages, requiredData, scriptStarted, setText, show } from './dom.js';
import { committedKey, type ManifestLike } from './lib/issuance.js';
import { apiMessage, definitiveRefusal, obtainRight } from './obtain.js';
import * as store from './store.js';

interface Config {
  election: string;
  keyId: string;
  manifestUrl: string;
  tokensUrl: string;
  eligibilityUrl: string;
  signedIn: boolean;
  csrf: string;
}

function readConfig(root: HTMLElement): Config {
  const d = root.dataset;
  const need = requiredData(root);
  return {
    election: need('election'),
    keyId: need('keyId'),
    manifestUrl: need('manifestUrl'),
    tokensUrl: need('tokensUrl'),
    eligibilityUrl: need('eligibilityUrl'),
    signedIn: d.signedIn === 'true',
    csrf: d.csrf ?? '',
  };
}

/** The right was issued but this browser refused to store it. */
class NotStoredError extends Error {
  override name = 'NotStoredError';
}

class EarlyRight {
  private readonly status = byId('early-status');
  private readonly errors = byId('early-errors');
  private readonly button = byId<HTMLButtonElement>('get-right');
  private busy = false;

  constructor(
    private readonly cfg: Config,
    private readonly m: Messages,
  ) {}

  async start(): Promise<void> {
    if (!(await store.storageAvailable())) {
      // Nothing to keep it in: the right would be lost with this page.
      this.done('earlyNoStorage');
      return;
    }
    const kept = await store.loadRight(this.cfg.election);
    if (kept) {
      this.done(kept.last_seq > 0 ? 'earlyVoted' : 'earlyKept');
      return;
    }
    if (!this.cfg.signedIn) {
      setText(this.status, this.m.t('earlySignIn'));
      show(byId('early-sign-in'));
      return;
    }
    this.button.addEventListener('click', () => void this.obtain());
    show(this.button);
    // Back from FranceConnect with an issuance in progress (ballot-secrecy.md §3): finish it.
    if ((await store.loadPendingIssuance(this.cfg.election)) !== undefined) void this.obtain();
  }

  /** A final state: the message, the booth link when a right is kept, no button. */
  private done(key: string): void {
    show(this.button, false);
    setText(this.status, this.m.t(key));
    show(byId('early-booth'), key !== 'earlyNoStorage');
  }

  private async obtain(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.button.disabled = true;
    this.errors.replaceChildren();
    show(this.errors, false);
    try {
      // Anonymous fetch, then the committed key check, before any secret is generated.
      const manifest = await fetchJson<ManifestLike>(this.cfg.manifestUrl, { credentials: 'omit' });
      const spki = committedKey(manifest, this.cfg.election, this.cfg.keyId);
      const obtained = await obtainRight(spki, this.cfg, (key) => setText(this.status, this.m.t(key)));
      if (!obtained.stored) throw new NotStoredError('IndexedDB refused the write');
      this.done(obtained.existing ? 'earlyKept' : 'earlyReady');
    } catch (err) {
      setText(this.status, '');
      const p = document.createElement('p');
      p.textContent = err instanceof NotStoredError ? this.m.t('earlyNotStored') : apiMessage(this.m, err);
      this.errors.append(p);
      show(this.errors);
      this.errors.focus();
      // Asking again cannot help once the right is issued or refused.
      this.button.disabled = err instanceof NotStoredError || definitiveRefusal(err);
    } finally {
      this.busy = false;
    }
  }
}

async function main(): Promise<void> {
  const root = document.getElementById('early');
  if (!root) return;
  scriptStarted();
  const m = new Messages(byId('parvis-messages'));
  await new EarlyRight(readConfig(root), m).start();
}

void main();

// The voting booth (ballot/templates/booth.html): fills the ballot, obtains the voting right
// and casts, with every cryptographic step on the citizen's device
// (voting-protocol.md "Token issuance" and "Casting"; docs/ballot-api.md).
//
// Order of operations, and why:
// 1. The manifest is fetched with credentials omitted and its issuer key checked against
//    the key id this page was served with (committedKey): a per-voter key is refused
//    before any secret exists ("tagging").
// 2. As soon as a signed-in citizen opens the booth without a stored voting right — before
//    the ballot is filled (ballot-secrecy.md §2, "voting right early") — generate the
//    Ed25519 key and nonce, Prepare and Blind (RFC 9474 §4.1-4.2), POST the blinded message
//    with the session cookie and the CSRF header, Finalize (§4.4, which verifies), and store
//    the right in IndexedDB at once (web/src/obtain.ts, web/src/store.ts). Issuance then
//    happens when the page opens, casting minutes later: no time link between the two.
// 3. When the citizen validates: in an encrypted election (manifest format
//    parvis-manifest-v2, docs/board-format.md §10), encrypt and prove the choices on the
//    device to the manifest's joint key, every proof bound to the election, the manifest hash
//    SHA-256(JCS(manifest)) and the right's vk (§10.3), so the ballot carries `encrypted`
//    instead of `choices` and the server never sees a clear choice; then sign the ballot
//    (Ed25519 over RFC 8785 JCS), store last_seq, wait a random 1-5 s, and cast with
//    credentials omitted: the cast request carries no cookie and no referrer.
// 4. Check the receipt on the device: the leaf hash is our ballot's, the tracking code is
//    derived from it, and either the board's signed promise (a pending ballot: it appears at
//    the next batch boundary, docs/ballot-api.md) or the inclusion proof to a checkpoint the
//    board key signed. The tracker link carries the code in the fragment (#code=), which the
//    browser never sends: the code never travels in a request with the session cookie.

import { byId, fetchJson, label, Messages, requiredData, scriptStarted, setText, show } from './dom.js';
import { electionEncryption, encryptForVoter, MANIFEST_V2, type ElectionEncryption } from './lib/encrypted_ballot.js';
import { committedKey, type ManifestLike } from './lib/issuance.js';
import { checkReceiptLeaf, ReceiptError, verifyInclusionEvidence, verifyPromise } from './lib/receipt.js';
import { castLeafHash, rightVoterKey, signBallot, type BallotContent, type VotingRight } from './lib/right.js';
import {
  checkChoices,
  countBounds,
  inOptionOrder,
  totalCost,
  type Choice,
  type Choices,
  type Problem,
  type Question,
} from './lib/rules.js';
import { apiMessage, clockTime, definitiveRefusal, obtainRight } from './obtain.js';
import * as store from './store.js';

interface Manifest extends ManifestLike {
  title: Record<string, string>;
  questions: Question[];
}

interface Receipt {
  election: string;
  leaf_hash: string;
  tracking_code: string;
  /** 'pending' until the next batch boundary (appears_at), then 'included'. */
  status?: 'pending' | 'included';
  appears_at?: string | null;
  index: number | null;
  tree_size?: number | null;
  checkpoint: string | null;
  inclusion_proof: string[] | null;
  promise: { leaf_hash: string; integrate_by: string; note: string } | null;
}

interface Config {
  election: string;
  keyId: string;
  manifestUrl: string;
  tokensUrl: string;
  ballotsUrl: string;
  eligibilityUrl: string;
  trackerUrl: string;
  signedIn: boolean;
  csrf: string;
  minDelayMs: number;
  maxDelayMs: number;
}

function readConfig(root: HTMLElement): Config {
  const d = root.dataset;
  const need = requiredData(root);
  return {
    election: need('election'),
    keyId: need('keyId'),
    manifestUrl: need('manifestUrl'),
    tokensUrl: need('tokensUrl'),
    ballotsUrl: need('ballotsUrl'),
    eligibilityUrl: need('eligibilityUrl'),
    trackerUrl: need('trackerUrl'),
    signedIn: d.signedIn === 'true',
    csrf: d.csrf ?? '',
    minDelayMs: 1000,
    maxDelayMs: 5000,
  };
}

/** A uniformly random delay in [min, max] ms from the CSPRNG (not Math.random). */
function randomDelay(min: number, max: number): Promise<void> {
  const span = max - min + 1;
  const [word] = crypto.getRandomValues(new Uint32Array(1));
  const ms = min + ((word ?? 0) % span);
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class Booth {
  private right: VotingRight | null = null;
  /** The voting right being obtained (at open, or at validation if that failed). */
  private rightTask: Promise<VotingRight> | null = null;
  /** IndexedDB works here: a right obtained at open survives a reload. */
  private canKeep = false;
  private busy = false;
  private readonly status = byId('booth-status');
  private readonly errors = byId('booth-errors');
  private readonly form = byId<HTMLFormElement>('ballot-form');
  private readonly submit = byId<HTMLButtonElement>('cast');

  constructor(
    private readonly cfg: Config,
    private readonly manifest: Manifest,
    private readonly spki: Uint8Array,
    private readonly m: Messages,
    /** Null for a public-ballot (v1) election: the ballot carries its clear choices. */
    private readonly encryption: ElectionEncryption | null,
  ) {}

  async start(): Promise<void> {
    for (const q of this.manifest.questions) this.enhance(q);
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.vote();
    });
    byId('show-ballot').addEventListener('click', () => this.reopen());
    const notice = byId('booth-notice');
    this.canKeep = await store.storageAvailable();
    this.right = await store.loadRight(this.cfg.election);
    const last = await store.loadReceipt(this.cfg.election);
    if (this.right && this.right.last_seq > 0) {
      const code = last ? ` ${this.m.t('lastCode', { code: last.tracking_code })}` : '';
      if (!this.manifest.revote) {
        setText(notice, this.m.t('alreadyVoted') + code);
        this.submit.disabled = true;
      } else {
        setText(notice, this.m.t('canRevote') + code);
        this.submit.textContent = this.m.t('revoteButton');
      }
      show(notice);
    } else if (this.right) {
      this.showRightKept();
    } else if (!this.cfg.signedIn) {
      setText(notice, this.m.t('signInFirst'));
      show(notice);
      show(byId('sign-in-link'));
      this.submit.disabled = true;
    }
    if (!this.canKeep) {
      const warning = byId('booth-storage');
      setText(warning, this.m.t('noStorage'));
      show(warning);
    }
    this.form.hidden = false;
    this.form.setAttribute('aria-busy', 'false');
    // Voting right early (ballot-secrecy.md §2): obtained now, while the citizen reads and
    // fills the ballot. Only when it can be kept: a right held in this page's memory alone
    // would be lost by a reload, and it is issued once — then it is obtained at validation.
    if (!this.right && this.cfg.signedIn && this.canKeep) {
      this.ensureRight().then(
        () => {
          this.say('rightReady');
          this.showRightKept();
        },
        (err: unknown) => this.openFailure(err),
      );
    }
  }

  /** The right is on this device: vote now, or later from this browser (and what loses it). */
  private showRightKept(): void {
    const notice = byId('booth-notice');
    setText(notice, this.m.t('rightKept'));
    show(notice);
  }

  /** Obtaining the right at open failed: say why without taking the focus from the page. */
  private openFailure(err: unknown): void {
    setText(this.status, '');
    this.errors.replaceChildren();
    const p = document.createElement('p');
    p.textContent = apiMessage(this.m, err);
    this.errors.append(p);
    show(this.errors);
    // No right can be had here (not eligible, already issued, paper vote): no ballot to send.
    if (definitiveRefusal(err)) this.submit.disabled = true;
  }

  // -- reading and checking the form ---------------------------------------------------

  private inputs(q: Question): HTMLInputElement[] {
    return Array.from(this.form.querySelectorAll<HTMLInputElement>(`input[name="q:${CSS.escape(q.id)}"]`));
  }

  private readChoice(q: Question): Choice | undefined {
    switch (q.type) {
      case 'single':
        return this.inputs(q).find((i) => i.checked)?.value;
      case 'approval':
      case 'budget':
        return inOptionOrder(
          q,
          this.inputs(q)
            .filter((i) => i.checked)
            .map((i) => i.value),
        );
      case 'ranked':
        // The ranking is the order of the ticked options in the list (see moveOption).
        return this.inputs(q)
          .filter((i) => i.checked)
          .map((i) => i.value);
      case 'majority_judgment': {
        const grades: Record<string, number> = {};
        for (const option of q.options) {
          const picked = this.form.querySelector<HTMLInputElement>(
            `input[name="q:${CSS.escape(q.id)}:${CSS.escape(option.id)}"]:checked`,
          );
          if (picked) grades[option.id] = Number(picked.value);
        }
        return grades;
      }
    }
  }

  private readChoices(): Choices {
    const choices: Choices = {};
    for (const q of this.manifest.questions) {
      const value = this.readChoice(q);
      if (value !== undefined) choices[q.id] = value;
    }
    return choices;
  }

  private problemText(p: Problem): string {
    const q = this.manifest.questions.find((x) => x.id === p.question);
    const title = (id: string) => label(q?.options.find((o) => o.id === id)?.title, this.m.lang) || id;
    switch (p.code) {
      case 'choose_one':
        return this.m.t('chooseOne');
      case 'exactly':
        return this.m.t('chooseExactly', { k: p.k });
      case 'too_few':
        return this.m.t('chooseAtLeast', { min: p.min });
      case 'too_many':
        return this.m.t(q?.type === 'budget' ? 'tooManyProjects' : 'chooseAtMost', { max: p.max });
      case 'over_budget':
        return this.m.t('overBudget', { total: this.m.euros(p.total), envelope: this.m.euros(p.envelope) });
      case 'grade_missing':
        return this.m.t('gradeMissing', { options: p.options.map(title).join(', ') });
      case 'rank_too_few':
        return this.m.t('rankAtLeast', { min: p.min });
      case 'rank_too_many':
        return this.m.t('rankAtMost', { max: p.max });
      case 'invalid':
        return this.m.t('invalidAnswer');
      case 'unanswered':
      case 'unknown_question':
        return this.m.t('invalidAnswer');
    }
  }

  private clearProblems(): void {
    for (const el of this.form.querySelectorAll<HTMLElement>('.field-error')) {
      el.textContent = '';
      el.hidden = true;
    }
    for (const fs of this.form.querySelectorAll('fieldset.question')) fs.classList.remove('has-error');
    for (const input of this.form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
    this.errors.replaceChildren();
    show(this.errors, false);
  }

  /** Per-question messages next to the question, and a linked summary announced at once. */
  private showProblems(problems: Problem[]): void {
    this.clearProblems();
    const heading = document.createElement('h2');
    heading.textContent = this.m.t('problemsTitle');
    const list = document.createElement('ul');
    for (const p of problems) {
      const text = this.problemText(p);
      const item = document.createElement('li');
      if (p.question) {
        const fieldset = document.getElementById(`q-${p.question}`);
        fieldset?.classList.add('has-error');
        const slot = document.getElementById(`q-${p.question}-error`);
        if (slot) {
          slot.textContent = slot.textContent ? `${slot.textContent} ${text}` : text;
          slot.hidden = false;
        }
        const q = this.manifest.questions.find((x) => x.id === p.question);
        if (q) for (const input of this.form.querySelectorAll(`[name^="q:${CSS.escape(q.id)}"]`)) input.setAttribute('aria-invalid', 'true');
        const link = document.createElement('a');
        link.href = `#q-${p.question}`;
        link.textContent = `${label(q?.title, this.m.lang)} — ${text}`;
        item.append(link);
      } else {
        item.textContent = text;
      }
      list.append(item);
    }
    this.errors.append(heading, list);
    show(this.errors);
    this.errors.focus();
  }

  // -- progressive enhancement per question type -------------------------------------

  private enhance(q: Question): void {
    if (q.type === 'budget') this.enhanceBudget(q);
    if (q.type === 'ranked') this.enhanceRanking(q);
    // Answering a question clears its error as soon as it becomes valid.
    const fieldset = document.getElementById(`q-${q.id}`);
    fieldset?.addEventListener('change', () => {
      const slot = document.getElementById(`q-${q.id}-error`);
      if (!slot || slot.hidden) return;
      if (checkChoices([q], { [q.id]: this.readChoice(q) ?? [] }).length === 0) {
        slot.hidden = true;
        slot.textContent = '';
        fieldset.classList.remove('has-error');
        for (const input of fieldset.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
      }
    });
  }

  /** Live total of a budget question against its envelope (announced politely). */
  private enhanceBudget(q: Question): void {
    const total = document.getElementById(`q-${q.id}-total`);
    const meter = document.getElementById(`q-${q.id}-meter`) as HTMLMeterElement | null;
    if (!total) return;
    const envelope = q.envelope ?? 0;
    const { max } = countBounds(q);
    const update = () => {
      const chosen = this.inputs(q)
        .filter((i) => i.checked)
        .map((i) => i.value);
      const sum = totalCost(q, chosen);
      const parts = [this.m.t('budgetTotal', { total: this.m.euros(sum), envelope: this.m.euros(envelope) })];
      if (sum > envelope) parts.push(this.m.t('budgetOver', { amount: this.m.euros(sum - envelope) }));
      else parts.push(this.m.t('budgetLeft', { amount: this.m.euros(envelope - sum) }));
      if (q.max_count != null) parts.push(this.m.t('budgetCount', { count: chosen.length, max }));
      total.textContent = parts.join(' ');
      total.classList.toggle('over', sum > envelope);
      if (meter) meter.value = Math.min(sum, envelope);
    };
    for (const input of this.inputs(q)) input.addEventListener('change', update);
    update();
  }

  /** Ranking with buttons (keyboard and screen readers), not drag only. */
  private enhanceRanking(q: Question): void {
    const list = document.getElementById(`q-${q.id}-ranking`);
    if (!list) return;
    const live = document.getElementById(`q-${q.id}-live`);
    const items = () => Array.from(list.querySelectorAll<HTMLLIElement>('li[data-option]'));
    const isRanked = (li: HTMLLIElement) => li.querySelector<HTMLInputElement>('input[type=checkbox]')?.checked ?? false;
    const titleOf = (li: HTMLLIElement) => li.querySelector('label')?.textContent?.trim() ?? '';
    const renumber = () => {
      let position = 0;
      for (const li of items()) {
        const badge = li.querySelector<HTMLElement>('.rank-position');
        const ranked = isRanked(li);
        if (ranked) position++;
        if (badge) badge.textContent = ranked ? String(position) : '–';
        li.classList.toggle('ranked', ranked);
        for (const button of li.querySelectorAll<HTMLButtonElement>('button[data-move]')) button.disabled = !ranked;
      }
    };
    const announce = (li: HTMLLIElement) => {
      const ranked = items().filter(isRanked);
      const position = ranked.indexOf(li) + 1;
      if (live) live.textContent = position ? this.m.t('rankMoved', { option: titleOf(li), position, count: ranked.length }) : this.m.t('rankRemoved', { option: titleOf(li) });
    };
    list.addEventListener('change', (event) => {
      const input = event.target as HTMLInputElement;
      const li = input.closest<HTMLLIElement>('li[data-option]');
      if (!li) return;
      // A newly ranked option goes right after the last ranked one; an unranked one after them.
      const others = items().filter((x) => x !== li && isRanked(x));
      const anchor = others[others.length - 1];
      if (anchor) anchor.after(li);
      else list.prepend(li);
      input.focus();
      renumber();
      announce(li);
    });
    list.addEventListener('click', (event) => {
      const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-move]');
      if (!button) return;
      const li = button.closest<HTMLLIElement>('li[data-option]');
      if (!li || !isRanked(li)) return;
      if (button.dataset.move === 'up') {
        const previous = li.previousElementSibling;
        if (previous) previous.before(li);
      } else {
        const next = li.nextElementSibling as HTMLLIElement | null;
        if (next && isRanked(next)) next.after(li);
      }
      button.focus();
      renumber();
      announce(li);
    });
    renumber();
  }

  // -- voting --------------------------------------------------------------------------

  private say(key: string, params: Record<string, string | number> = {}): void {
    setText(this.status, this.m.t(key, params));
  }

  private fail(text: string): void {
    this.errors.replaceChildren();
    const p = document.createElement('p');
    p.textContent = text;
    this.errors.append(p);
    show(this.errors);
    this.errors.focus();
    setText(this.status, '');
  }

  /** The stored right, or the one being obtained, or a new one obtained now. */
  private ensureRight(): Promise<VotingRight> {
    if (this.right) return Promise.resolve(this.right);
    this.rightTask ??= obtainRight(this.spki, this.cfg, (key) => this.say(key))
      .then((obtained) => {
        this.right = obtained.right;
        return obtained.right;
      })
      .finally(() => {
        this.rightTask = null; // a failure is retried at the next validation
      });
    return this.rightTask;
  }

  private async vote(): Promise<void> {
    if (this.busy) return;
    const choices = this.readChoices();
    const problems = checkChoices(this.manifest.questions, choices);
    if (problems.length) {
      this.showProblems(problems);
      return;
    }
    this.clearProblems();
    this.busy = true;
    this.submit.disabled = true;
    this.form.setAttribute('aria-busy', 'true');
    try {
      const right = await this.ensureRight();
      const { request, right: next } = signBallot(right, await this.content(right, choices));
      // Stored before sending: a retry after an unknown outcome uses a higher seq.
      await store.saveRight(next);
      this.right = next;
      this.say('sending');
      await randomDelay(this.cfg.minDelayMs, this.cfg.maxDelayMs);
      const receipt = await fetchJson<Receipt>(this.cfg.ballotsUrl, { method: 'POST', body: request, credentials: 'omit' });
      await this.showReceipt(receipt, castLeafHash(request), next.last_seq);
    } catch (err) {
      this.fail(apiMessage(this.m, err));
      this.submit.disabled = definitiveRefusal(err);
    } finally {
      this.busy = false;
      this.form.setAttribute('aria-busy', 'false');
    }
  }

  /** The ballot's content: the clear choices (v1), or their encryption and proofs (v2). */
  private async content(right: VotingRight, choices: Choices): Promise<BallotContent> {
    if (!this.encryption) return { choices };
    this.say('encrypting');
    // Let the page show the state before the main thread is busy with the cryptography (a
    // timer, not requestAnimationFrame, which never fires in a background tab).
    await new Promise((resolve) => setTimeout(resolve, 50));
    return { encrypted: encryptForVoter(this.encryption, this.manifest.questions, { vk: rightVoterKey(right), choices }) };
  }

  private async showReceipt(receipt: Receipt, leaf: Uint8Array, seq: number): Promise<void> {
    checkReceiptLeaf(leaf, receipt.leaf_hash, receipt.tracking_code);
    const proof = byId('receipt-proof');
    if (receipt.checkpoint && receipt.inclusion_proof && receipt.index != null) {
      const checkpoint = verifyInclusionEvidence(
        {
          leafHash: leaf,
          index: receipt.index,
          treeSize: receipt.tree_size ?? null,
          proof: receipt.inclusion_proof,
          checkpoint: receipt.checkpoint,
        },
        this.manifest.board,
      );
      setText(proof, this.m.t('receiptIncluded', { index: receipt.index, size: checkpoint.size }));
    } else if (receipt.promise) {
      // Pending: the board signed a promise for our leaf; it appears at the next boundary.
      const promise = verifyPromise(receipt.promise.note, this.manifest.board, leaf);
      const appears = receipt.appears_at ? Date.parse(receipt.appears_at) : Number.NaN;
      if (Number.isFinite(appears)) {
        setText(proof, this.m.t('receiptPending', { time: clockTime(appears, this.m.lang) }));
      } else {
        const by = new Date(promise.integrateBy * 1000).toLocaleString(this.m.lang);
        setText(proof, this.m.t('receiptPromised', { time: by }));
      }
    } else {
      throw new ReceiptError('proof', 'the receipt has neither an inclusion proof nor a promise');
    }
    await store.saveReceipt(this.cfg.election, {
      tracking_code: receipt.tracking_code,
      seq,
      board_origin: this.manifest.board.origin,
      board_key: this.manifest.board.key,
    });
    setText(byId('tracking-code'), receipt.tracking_code);
    const link = byId<HTMLAnchorElement>('tracker-link');
    // In the fragment: never sent to the server, so never next to the session cookie.
    link.href = `${this.cfg.trackerUrl}#code=${encodeURIComponent(receipt.tracking_code)}`;
    show(byId('revote-note'), this.manifest.revote);
    show(byId('revote-again'), this.manifest.revote);
    this.say('sent');
    // The ballot is cast: the form makes way for the receipt (and comes back to re-vote).
    this.form.hidden = true;
    const section = byId('receipt');
    show(section);
    section.focus();
    this.submit.textContent = this.m.t('revoteButton');
  }

  /** "Change my vote": the form again, with a higher seq on the same voting right. */
  private reopen(): void {
    show(byId('revote-again'), false);
    show(byId('receipt'), false);
    setText(this.status, '');
    this.form.hidden = false;
    this.submit.disabled = false;
    this.form.querySelector<HTMLInputElement>('input')?.focus();
  }
}

async function main(): Promise<void> {
  const root = document.getElementById('booth');
  if (!root) return;
  scriptStarted();
  const m = new Messages(byId('parvis-messages'));
  const status = byId('booth-status');
  let cfg: Config;
  let manifest: Manifest;
  let spki: Uint8Array;
  try {
    cfg = readConfig(root);
    setText(status, m.t('loading'));
    // Anonymous fetch: the server cannot tell which signed-in citizen asks for the manifest.
    manifest = await fetchJson<Manifest>(cfg.manifestUrl, { credentials: 'omit' });
  } catch (err) {
    setText(status, '');
    const errors = byId('booth-errors');
    setText(errors, m.t('manifestUnavailable', { detail: err instanceof Error ? err.message : String(err) }));
    show(errors);
    return;
  }
  try {
    spki = committedKey(manifest, cfg.election, cfg.keyId);
  } catch (err) {
    // Refuse to go on at all: this page or the manifest carries a key not committed to.
    setText(status, '');
    const errors = byId('booth-errors');
    setText(errors, m.t('uncommittedKey', { detail: err instanceof Error ? err.message : String(err) }));
    show(errors);
    errors.focus();
    byId('ballot-form').remove();
    return;
  }
  let encryption: ElectionEncryption | null = null;
  if (manifest.format === MANIFEST_V2) {
    try {
      // committedKey checked manifest.election = this page's election: the proofs name it.
      encryption = electionEncryption(manifest);
    } catch (err) {
      // No ballot can be encrypted to this election's key: nothing to fill in, nothing sent.
      setText(status, '');
      const errors = byId('booth-errors');
      setText(errors, m.t('badElectionKey', { detail: err instanceof Error ? err.message : String(err) }));
      show(errors);
      errors.focus();
      byId('ballot-form').remove();
      return;
    }
  }
  setText(status, '');
  await new Booth(cfg, manifest, spki, m, encryption).start();
}

void main();

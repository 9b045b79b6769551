// What the booth keeps in the browser, per election, in IndexedDB (database "parvis-booth"):
//   rights/<election>    the voting right (ballot/client.py JSON form): the token and the
//                        ephemeral Ed25519 secret key — needed to cast later and to re-vote
//   receipts/<election>  the last tracking code and seq, and the board key and origin seen
//                        when voting (the tracker warns if the manifest changes them)
// The right is a secret that lets whoever holds it vote in the citizen's place until the
// close (threat model: "voting right theft from storage"). It lives in IndexedDB rather than
// localStorage: it is obtained before the ballot is filled (ballot-secrecy.md §2, "voting
// right early") and must survive reloads, and IndexedDB writes are transactional (a right is
// reported stored only once its transaction has committed). An older booth kept both in
// localStorage (parvis:right:<election>, parvis:receipt:<election>): they are moved here on
// first load, then removed from localStorage.

import { parseVotingRight, type VotingRight } from './lib/right.js';

export interface StoredReceipt {
  tracking_code: string;
  seq: number;
  board_origin: string;
  board_key: string;
}

const DB_NAME = 'parvis-booth';
const DB_VERSION = 1;
const RIGHTS = 'rights';
const RECEIPTS = 'receipts';

const legacyRightKey = (election: string) => `parvis:right:${election}`;
const legacyReceiptKey = (election: string) => `parvis:receipt:${election}`;

let opened: Promise<IDBDatabase | null> | null = null;

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

/** The database, or null when this browser refuses IndexedDB (some private modes). */
function database(): Promise<IDBDatabase | null> {
  opened ??= new Promise<IDBDatabase | null>((resolve) => {
    let req: IDBOpenDBRequest;
    try {
      req = indexedDB.open(DB_NAME, DB_VERSION);
    } catch {
      resolve(null);
      return;
    }
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(RIGHTS)) db.createObjectStore(RIGHTS);
      if (!db.objectStoreNames.contains(RECEIPTS)) db.createObjectStore(RECEIPTS);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => resolve(null);
    req.onblocked = () => resolve(null);
  });
  return opened;
}

async function get(store: string, key: string): Promise<unknown> {
  const db = await database();
  if (!db) return undefined;
  return request(db.transaction(store, 'readonly').objectStore(store).get(key));
}

/** Put and wait for the commit; 'strict' asks the browser to flush before it reports it. */
async function put(store: string, key: string, value: unknown): Promise<boolean> {
  const db = await database();
  if (!db) return false;
  try {
    const tx = db.transaction(store, 'readwrite', { durability: 'strict' });
    tx.objectStore(store).put(value, key);
    await committed(tx);
    return true;
  } catch {
    return false;
  }
}

function legacy(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** True when this browser can keep a voting right across reloads (IndexedDB works). */
export async function storageAvailable(): Promise<boolean> {
  return (await database()) !== null;
}

/**
 * Ask the browser not to evict this origin's storage under pressure (Storage Standard
 * "persistent" bucket): evicting it before the citizen casts would lose the right. Best
 * effort — browsers may decline, and the page says what losing the device means anyway.
 */
export async function askPersistence(): Promise<void> {
  try {
    await navigator.storage?.persist?.();
  } catch {
    // not granted: nothing else to do
  }
}

function parseRight(value: unknown, election: string): VotingRight | null {
  try {
    return parseVotingRight(value, election);
  } catch {
    return null; // a corrupted or foreign entry is ignored, never used to sign
  }
}

/**
 * Move an older booth's localStorage entries for `election` into IndexedDB. The secret is
 * removed from localStorage only once IndexedDB holds a right with the same token and at
 * least its last_seq — a failed move never loses a right.
 */
async function migrate(election: string): Promise<void> {
  const ls = legacy();
  if (!ls) return;
  let text: string | null = null;
  let receiptText: string | null = null;
  try {
    text = ls.getItem(legacyRightKey(election));
    receiptText = ls.getItem(legacyReceiptKey(election));
  } catch {
    return;
  }
  if (text !== null) {
    let old: VotingRight | null = null;
    try {
      old = parseRight(JSON.parse(text), election);
    } catch {
      old = null;
    }
    const current = parseRight(await get(RIGHTS, election), election);
    let kept = false;
    if (old && !current) {
      kept = await put(RIGHTS, election, old);
    } else if (old && current && old.token.msg === current.token.msg) {
      // The same right in both places: keep the higher seq (a re-vote must go above it).
      kept = old.last_seq <= current.last_seq || (await put(RIGHTS, election, old));
    } else if (!old) {
      kept = true; // unreadable: it could never sign; drop it
    }
    if (kept) ls.removeItem(legacyRightKey(election));
  }
  if (receiptText !== null) {
    let receipt: StoredReceipt | null = null;
    try {
      receipt = checkReceipt(JSON.parse(receiptText));
    } catch {
      receipt = null;
    }
    const kept = !receipt || (await get(RECEIPTS, election)) !== undefined || (await put(RECEIPTS, election, receipt));
    if (kept) ls.removeItem(legacyReceiptKey(election));
  }
}

export async function loadRight(election: string): Promise<VotingRight | null> {
  await migrate(election);
  try {
    return parseRight(await get(RIGHTS, election), election);
  } catch {
    return null;
  }
}

/** Store the right; true once the write has committed. */
export function saveRight(right: VotingRight): Promise<boolean> {
  return put(RIGHTS, right.election, right);
}

function checkReceipt(value: unknown): StoredReceipt | null {
  const r = value as Partial<StoredReceipt> | null;
  return r && typeof r.tracking_code === 'string' && typeof r.board_key === 'string' ? (r as StoredReceipt) : null;
}

export async function loadReceipt(election: string): Promise<StoredReceipt | null> {
  try {
    await migrate(election);
    return checkReceipt(await get(RECEIPTS, election));
  } catch {
    return null;
  }
}

export async function saveReceipt(election: string, receipt: StoredReceipt): Promise<void> {
  await put(RECEIPTS, election, receipt); // best effort: the receipt is also on screen
}

// An issuance in progress (ballot-secrecy.md §3): the booth sent its blinded message and
// went to FranceConnect; what it needs to finish when it comes back (the blinding state
// and the ephemeral key seed) waits here, in the rights store under its own key, and is
// deleted once the right is stored.
const pendingKey = (election: string) => `issuance:${election}`;

/** Keep the blinding state across the FranceConnect round trip; true once committed. */
export function savePendingIssuance(election: string, state: unknown): Promise<boolean> {
  return put(RIGHTS, pendingKey(election), state);
}

export async function loadPendingIssuance(election: string): Promise<unknown> {
  try {
    return await get(RIGHTS, pendingKey(election));
  } catch {
    return undefined;
  }
}

export async function deletePendingIssuance(election: string): Promise<void> {
  const db = await database();
  if (!db) return;
  try {
    const tx = db.transaction(RIGHTS, 'readwrite');
    tx.objectStore(RIGHTS).delete(pendingKey(election));
    await committed(tx);
  } catch {
    // best effort: a stale state is refused by the server (its nonce is single use)
  }
}

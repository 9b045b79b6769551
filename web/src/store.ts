// What the booth keeps in the browser (localStorage), per election:
//   parvis:right:<election>   the voting right (ballot/client.py JSON form): the token and the
//                             ephemeral Ed25519 secret key — needed to re-vote
//   parvis:receipt:<election> the last tracking code and seq, and the board key and origin
//                             seen when voting (the tracker warns if the manifest changes them)
// The right is a secret that lets whoever holds it re-vote in the citizen's place until
// the close (threat model: "voting right theft from storage").

import { parseVotingRight, type VotingRight } from './lib/right.js';

export interface StoredReceipt {
  tracking_code: string;
  seq: number;
  board_origin: string;
  board_key: string;
}

const rightKey = (election: string) => `parvis:right:${election}`;
const receiptKey = (election: string) => `parvis:receipt:${election}`;

function storage(): Storage | null {
  try {
    const s = window.localStorage;
    s.getItem('parvis:probe');
    return s;
  } catch {
    return null; // storage disabled: the booth still votes once, without re-voting later
  }
}

export const storageAvailable = (): boolean => storage() !== null;

export function loadRight(election: string): VotingRight | null {
  const text = storage()?.getItem(rightKey(election));
  if (!text) return null;
  try {
    return parseVotingRight(JSON.parse(text), election);
  } catch {
    return null; // a corrupted or foreign entry is ignored, never used to sign
  }
}

export function saveRight(right: VotingRight): boolean {
  const s = storage();
  if (!s) return false;
  try {
    s.setItem(rightKey(right.election), JSON.stringify(right));
    return true;
  } catch {
    return false;
  }
}

export function loadReceipt(election: string): StoredReceipt | null {
  const text = storage()?.getItem(receiptKey(election));
  if (!text) return null;
  try {
    const value = JSON.parse(text) as StoredReceipt;
    return typeof value.tracking_code === 'string' && typeof value.board_key === 'string' ? value : null;
  } catch {
    return null;
  }
}

export function saveReceipt(election: string, receipt: StoredReceipt): void {
  try {
    storage()?.setItem(receiptKey(election), JSON.stringify(receipt));
  } catch {
    // best effort: the receipt is also on screen
  }
}

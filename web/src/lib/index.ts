// The booth's pure functions, bundled for the Node tests (tests/node/booth_test.py).
export * from './bytes.js';
export * from './jcs.js';
export * from './merkle.js';
export * from './note.js';
export * from './token.js';
export * from './tracking.js';
export * from './rules.js';
export * from './right.js';
export * from './issuance.js';
export * from './receipt.js';
export * from './group.js';
export * from './transcript.js';
export * from './elgamal.js';
export * from './range.js';
export * from './zeroone.js';
export * from './encrypted_ballot.js';

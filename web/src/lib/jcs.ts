// RFC 8785 "JSON Canonicalization Scheme (JCS)": the bytes a ballot signature covers
// (docs/board-format.md §4: ballot_sig = Ed25519(sk, JCS(ballot))) and the bytes of every
// board entry (§1: leaf bytes = JCS(entry)).
//
// The booth only produces objects, arrays, strings and small integers, but the function is
// complete for every JSON value, and tests/node/booth_test.py compares it with Python's
// ballot.jcs.canonical (which falls back on the rfc8785 package) on generated values.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export class CanonicalizationError extends Error {
  override name = 'CanonicalizationError';
}

// RFC 8785 §3.2.2.2: strings are serialized as ECMAScript JSON.stringify does — escape only
// '"', '\\' and U+0000..U+001F, the latter as \b \t \n \f \r or \u00xx (lowercase hex) —
// and must be valid Unicode (I-JSON, RFC 7493 §2.1: no lone surrogates).
function isWellFormed(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1); // NaN past the end
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return false;
    }
  }
  return true;
}

function serializeString(text: string): string {
  if (!isWellFormed(text)) throw new CanonicalizationError('string with a lone surrogate is not I-JSON');
  // ES2019 "well-formed JSON.stringify" writes exactly RFC 8785's escapes for well-formed
  // strings; we checked well-formedness above.
  return JSON.stringify(text);
}

// RFC 8785 §3.2.2.3: numbers are serialized as ECMAScript Number.prototype.toString does
// (JSON.stringify uses it); NaN and the infinities are not JSON. -0 is written "0".
function serializeNumber(value: number): string {
  if (!Number.isFinite(value)) throw new CanonicalizationError('NaN and Infinity are not JSON');
  return JSON.stringify(value);
}

function serialize(value: Json, depth: number, out: string[]): void {
  if (depth > 64) throw new CanonicalizationError('JSON nested deeper than 64 levels');
  if (value === null) {
    out.push('null');
  } else if (typeof value === 'boolean') {
    out.push(value ? 'true' : 'false');
  } else if (typeof value === 'number') {
    out.push(serializeNumber(value));
  } else if (typeof value === 'string') {
    out.push(serializeString(value));
  } else if (Array.isArray(value)) {
    // §3.2.3: array element order is kept.
    out.push('[');
    value.forEach((item, i) => {
      if (i) out.push(',');
      serialize(item, depth + 1, out);
    });
    out.push(']');
  } else if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    // §3.2.3: members sorted by their names as arrays of UTF-16 code units — which is
    // exactly JavaScript's default string comparison (no localeCompare).
    const names = Object.keys(value).sort();
    out.push('{');
    names.forEach((name, i) => {
      if (i) out.push(',');
      out.push(serializeString(name), ':');
      serialize(value[name] as Json, depth + 1, out);
    });
    out.push('}');
  } else {
    throw new CanonicalizationError(`not a JSON value: ${typeof value}`);
  }
}

/** The RFC 8785 canonical text of `value`. */
export function canonicalText(value: Json): string {
  const out: string[] = [];
  serialize(value, 0, out);
  return out.join('');
}

/** The RFC 8785 canonical bytes (UTF-8, §3.2.4) of `value`. */
export function canonical(value: Json): Uint8Array {
  return new TextEncoder().encode(canonicalText(value));
}

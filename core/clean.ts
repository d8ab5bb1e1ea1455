// Cleaning of every vendor answer (sync and async alike) before it is stored.
//
// `clean(data, rules)` is pure: it returns a new value and never mutates its input.
// - Every string is trimmed (String.prototype.trim: also NBSP, U+3000 and other Unicode spaces),
//   inside objects and arrays, at any depth. Object keys are kept as they are.
// - Fields are dropped or redacted by NAME at any depth, inside arrays too. Names match
//   case-insensitively and ignoring the separators `_`, `-`, `.` and spaces, so the rule
//   `card_number` also catches `cardNumber`, `Card-Number` and `CARDNUMBER`.
//   A rule starting with `*` matches by suffix (`*password` catches `newPassword`).
//   Drop wins when a name is both dropped and redacted.
// - Values that look like a card number (13–19 digits, optionally grouped by single spaces or
//   dashes, passing the Luhn check) or a US SSN (ddd-dd-dddd) are redacted inside any string,
//   even under an innocent name ("note": "card 4111 1111 1111 1111" → "card [REDACTED]").
//   Only strings are scanned: numbers, booleans and null are preserved as they are. The price
//   is a false positive now and then (a 13-digit id sent as a string passes Luhn 1 time in
//   10): on PII we prefer the safe side.
// - The safe defaults (DEFAULT_DROP, DEFAULT_REDACT) always apply; a vendor's `cleaning`
//   rules add to them (see core/vendorpool.ts), so no caller can forget them.
// - Robust against hostile shapes: a cycle becomes "[Circular]"; anything nested deeper than
//   MAX_DEPTH becomes "[Truncated]" (so nothing past the limit can leak and the recursion can
//   never overflow the stack); `__proto__` keys stay plain data.

export interface CleaningRules {
  /** Field names removed wherever they appear. */
  drop: string[];
  /** Field names whose values (whatever their type) become REDACTED wherever they appear. */
  redact: string[];
}

/** What a redacted value becomes. */
export const REDACTED = '[REDACTED]';
/** Deepest object/array nesting kept; deeper values become TRUNCATED. JSON from vendors is far shallower. */
export const MAX_DEPTH = 64;
export const TRUNCATED = '[Truncated]';
export const CIRCULAR = '[Circular]';

// Why drop vs redact:
// - DROPPED: credentials (passwords, secrets, tokens, API keys) and card verification codes.
//   They give the client nothing and are dangerous even as a shape; PCI DSS forbids storing a
//   CVV at all. Suffix rules (`*password`, `*secret`, `*token`, `*apikey`) catch variants such
//   as `newPassword`, `webhookSecret`, `bearerToken`.
// - REDACTED: personal data fields (SSN, card numbers / PAN). The client usually expects the
//   field to exist (its schema, "has a card on file"), so the key stays and only the value goes.
export const DEFAULT_DROP: readonly string[] = Object.freeze([
  'password',
  'passwd',
  'pwd',
  'passphrase',
  '*password',
  'secret',
  'api_secret',
  'client_secret',
  'secret_key',
  'private_key',
  '*secret',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'auth_token',
  'session_token',
  '*token',
  'api_key',
  'apikey',
  '*api_key',
  'access_key',
  'authorization',
  'cvv',
  'cvv2',
  'cvc',
  'cvc2',
  'card_verification',
  'security_code',
]);

export const DEFAULT_REDACT: readonly string[] = Object.freeze([
  'ssn',
  'social_security_number',
  'card_number',
  'credit_card',
  'credit_card_number',
  'cc_number',
  'ccnum',
  'debit_card',
  'pan',
  'primary_account_number',
]);

/** Lower-case, without the separators that vendors use inconsistently. */
export function normalizeFieldName(name: string): string {
  return name.trim().toLowerCase().replace(/[_\-.\s]/g, '');
}

interface NameMatcher {
  exact: Set<string>;
  suffixes: string[];
}

function compileNames(names: readonly string[]): NameMatcher {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const raw of names) {
    const trimmed = raw.trim();
    if (trimmed.startsWith('*')) {
      const suffix = normalizeFieldName(trimmed.slice(1));
      if (suffix !== '') suffixes.push(suffix);
    } else {
      const name = normalizeFieldName(trimmed);
      if (name !== '') exact.add(name);
    }
  }
  return { exact, suffixes };
}

function matches(m: NameMatcher, normalized: string): boolean {
  return m.exact.has(normalized) || m.suffixes.some((s) => normalized.endsWith(s));
}

/** Luhn checksum over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

// 13–19 digits, each optionally followed by ONE space or dash, not glued to other digits.
const CARD_CANDIDATE = /(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)/g;
// ddd-dd-dddd, not glued to other digits or dash-digit chains (e.g. a phone or a longer id).
const SSN = /(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-]?\d)/g;

/** Redacts card numbers and SSNs found anywhere inside a (trimmed) string. */
export function redactSensitiveText(text: string): string {
  let out = text;
  if (/\d{3}/.test(out)) {
    out = out.replace(CARD_CANDIDATE, (m) => {
      const digits = m.replace(/[ -]/g, '');
      return digits.length >= 13 && digits.length <= 19 && luhnValid(digits) ? REDACTED : m;
    });
    out = out.replace(SSN, REDACTED);
  }
  return out;
}

// Compiled name sets per rules object: a vendor's rules come from the registry and stay the
// same object until its spec changes, so each is compiled once, not per answer.
const compiled = new WeakMap<CleaningRules, { drop: NameMatcher; redact: NameMatcher }>();

function compileRules(rules: CleaningRules): { drop: NameMatcher; redact: NameMatcher } {
  let c = compiled.get(rules);
  if (!c) {
    c = { drop: compileNames([...DEFAULT_DROP, ...rules.drop]), redact: compileNames([...DEFAULT_REDACT, ...rules.redact]) };
    compiled.set(rules, c);
  }
  return c;
}

export function clean(data: unknown, rules: CleaningRules): unknown {
  const { drop, redact } = compileRules(rules);
  // Objects on the current path (cycle detection); a shared but acyclic object is simply
  // cleaned again where it reappears.
  const path = new Set<object>();

  const visit = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') return redactSensitiveText(value.trim());
    if (value === null || typeof value !== 'object') {
      // number, boolean, bigint, undefined stay; functions and symbols are not data.
      return typeof value === 'function' || typeof value === 'symbol' ? undefined : value;
    }
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
    if (path.has(value)) return CIRCULAR;
    if (depth >= MAX_DEPTH) return TRUNCATED;
    path.add(value);
    try {
      if (Array.isArray(value)) return value.map((item) => visit(item, depth + 1));
      const entries: [string, unknown][] = [];
      for (const [key, child] of Object.entries(value)) {
        const name = normalizeFieldName(key);
        if (matches(drop, name)) continue;
        if (matches(redact, name)) {
          entries.push([key, REDACTED]);
          continue;
        }
        const cleaned = visit(child, depth + 1);
        if (cleaned !== undefined) entries.push([key, cleaned]);
      }
      // fromEntries defines own data properties, so a "__proto__" key cannot touch the prototype.
      return Object.fromEntries(entries);
    } finally {
      path.delete(value);
    }
  };

  return visit(data, 0);
}

// Canonical JSON: what "the same payload" means wherever vendorfetch compares payloads — the
// api's Idempotency-Key fingerprints (api/idempotency.ts) and the worker's result cache keys
// (worker/result-cache.ts). One definition, so the two can never disagree.

/**
 * Object keys sorted, no whitespace, numbers as JSON.parse read them (so `1.0` and `1` agree).
 * The api refuses bodies nested deeper than its limit (64) before this runs, so the recursion
 * is bounded.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

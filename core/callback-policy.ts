// Who may receive completion callbacks, and where: the per-client configuration
// (VF_CALLBACK_CLIENTS) and the SSRF rules both the api (at submit) and the worker (at send
// time, after DNS) apply. Pure: no network here; the worker's sender (worker/callback-http.ts)
// calls addressAllowed() on every address its DNS lookup returns, before connecting.
//
// The rules:
// - a callback_url's host must match an entry of its client's allowlist: a host name (exact),
//   `*.example.com` (any subdomain), an IP literal or a CIDR range;
// - https only, unless the matching entry is written with `http://` (e.g. `http://127.0.0.1`);
// - no credentials in the URL;
// - every address the host resolves to must be public, unless an IP or CIDR entry of the client
//   covers it: loopback, private (RFC 1918, ULA), link-local, CGNAT, multicast, NAT64 and the
//   unspecified address are refused by default. A name allowlisted as a name does not lift this
//   (a DNS answer can change; an address range written down cannot).
import { createHash } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';

/** Ranges no callback goes to unless a client's allowlist names them (by IP or CIDR). */
const NON_PUBLIC: Array<[string, number, 'ipv4' | 'ipv6']> = [
  ['0.0.0.0', 8, 'ipv4'], // "this network", unspecified
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'], // CGNAT
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'], // benchmarking
  ['224.0.0.0', 4, 'ipv4'], // multicast
  ['240.0.0.0', 4, 'ipv4'], // reserved, broadcast
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  ['64:ff9b::', 96, 'ipv6'], // NAT64: may translate to any IPv4 address, private ones included
  ['fc00::', 7, 'ipv6'], // unique local
  ['fe80::', 10, 'ipv6'], // link-local
  ['ff00::', 8, 'ipv6'], // multicast
];

const nonPublic = new BlockList();
for (const [net, prefix, family] of NON_PUBLIC) nonPublic.addSubnet(net, prefix, family);

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is checked as the IPv4 address it is. */
function normalise(address: string): { address: string; family: 'ipv4' | 'ipv6' } | null {
  const bare = address.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return { address: mapped[1]!, family: 'ipv4' };
  const v = isIP(bare);
  if (v === 4) return { address: bare, family: 'ipv4' };
  if (v === 6) {
    // ::ffff:7f00:1 is 127.0.0.1 written in hex.
    const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(bare);
    if (hex) {
      const hi = parseInt(hex[1]!, 16);
      const lo = parseInt(hex[2]!, 16);
      return { address: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, family: 'ipv4' };
    }
    return { address: bare.toLowerCase(), family: 'ipv6' };
  }
  return null;
}

/** True for an address in a loopback, private, link-local or otherwise non-public range. */
export function isNonPublicAddress(address: string): boolean {
  const n = normalise(address);
  return n === null || nonPublic.check(n.address, n.family);
}

/** One allowlist entry, parsed. */
type AllowEntry =
  | { kind: 'name'; name: string; http: boolean }
  | { kind: 'suffix'; suffix: string; http: boolean }
  | { kind: 'net'; list: BlockList; http: boolean };

function parseAllowEntry(raw: string): AllowEntry | string {
  const m = /^(?:(https?):\/\/)?([^/]+(?:\/\d{1,3})?)\/?$/i.exec(raw.trim());
  if (!m) return `"${raw}" is not a host, *.domain, IP or CIDR`;
  const http = m[1]?.toLowerCase() === 'http';
  const host = m[2]!.toLowerCase();
  const cidr = /^\[?([0-9a-f:.]+)\]?(?:\/(\d{1,3}))?$/i.exec(host);
  const ip = cidr ? normalise(cidr[1]!) : null;
  if (cidr && ip) {
    const max = ip.family === 'ipv4' ? 32 : 128;
    const prefix = cidr[2] === undefined ? max : Number(cidr[2]);
    if (prefix > max) return `"${raw}": prefix /${prefix} is too long`;
    const list = new BlockList();
    list.addSubnet(ip.address, prefix, ip.family);
    return { kind: 'net', list, http };
  }
  if (host.startsWith('*.') && /^[a-z0-9.-]+$/.test(host.slice(2))) return { kind: 'suffix', suffix: host.slice(1), http };
  if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(host)) return { kind: 'name', name: host, http };
  return `"${raw}" is not a host, *.domain, IP or CIDR`;
}

export interface CallbackClient {
  /** The client id the api gives this caller (clientIdOfApiKey, or `anonymous`). */
  clientId: string;
  /** Standard Webhooks secret, `whsec_<base64>`. Never logged. */
  secret: string;
  allow: readonly AllowEntry[];
}

/** The api's client id for an API key: a digest prefix, never the key (as api/access.ts computes it). */
export const clientIdOfApiKey = (apiKey: string): string =>
  `key:${createHash('sha256').update(apiKey).digest('hex').slice(0, 16)}`;

/** The client id of requests without an API key (only when VF_API_KEYS is unset). */
export const ANONYMOUS_CLIENT = 'anonymous';

const clientEntrySchema = z.object({
  /** The client's API key (one of VF_API_KEYS); absent: requests without a key (open mode). */
  apiKey: z.string().min(1).optional(),
  secret: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/]{16,}={0,2}$/, 'must be "whsec_" followed by base64 (at least 12 bytes)'),
  allow: z.array(z.string().min(1)).min(1),
});

/**
 * VF_CALLBACK_CLIENTS: a JSON array of `{apiKey?, secret, allow: [...]}`. Unset or empty: no
 * client may ask for callbacks. The api keeps it to check callback_url at submit; the worker
 * keeps it for the secret and the address check at send time. Errors never echo a secret.
 */
export function parseCallbackClients(json: string | undefined): { ok: true; clients: Map<string, CallbackClient> } | { ok: false; problems: string[] } {
  const clients = new Map<string, CallbackClient>();
  if (json === undefined || json.trim() === '') return { ok: true, clients };
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return { ok: false, problems: ['not valid JSON'] };
  }
  const parsed = z.array(clientEntrySchema).safeParse(raw);
  if (!parsed.success) return { ok: false, problems: parsed.error.issues.map((i) => `[${i.path.join('.')}]: ${i.message}`) };
  const problems: string[] = [];
  parsed.data.forEach((entry, i) => {
    const clientId = entry.apiKey === undefined ? ANONYMOUS_CLIENT : clientIdOfApiKey(entry.apiKey);
    if (clients.has(clientId)) problems.push(`[${i}]: a second entry for the same client`);
    const allow: AllowEntry[] = [];
    for (const a of entry.allow) {
      const e = parseAllowEntry(a);
      if (typeof e === 'string') problems.push(`[${i}.allow]: ${e}`);
      else allow.push(e);
    }
    clients.set(clientId, { clientId, secret: entry.secret, allow });
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, clients };
}

export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

/** Submit-time (and again send-time) check of a callback_url against its client's allowlist. */
export function checkCallbackUrl(raw: string, client: CallbackClient | undefined): UrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'not an absolute URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, reason: 'must be http(s)' };
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'must not carry credentials' };
  if (client === undefined) return { ok: false, reason: 'this client is not configured for callbacks (VF_CALLBACK_CLIENTS)' };
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const ip = normalise(host);
  const matches = client.allow.filter((e) => {
    if (ip) return e.kind === 'net' && e.list.check(ip.address, ip.family);
    if (e.kind === 'name') return e.name === host;
    if (e.kind === 'suffix') return host.endsWith(e.suffix) && host.length > e.suffix.length;
    return false;
  });
  if (matches.length === 0) return { ok: false, reason: `host ${host} is not on this client's callback allowlist` };
  if (url.protocol === 'http:' && !matches.some((e) => e.http)) {
    return { ok: false, reason: 'must be https (the allowlist entry for this host does not permit http://)' };
  }
  return { ok: true, url };
}

/** Send-time check of one resolved address: public, or covered by one of the client's IP/CIDR entries. */
export function addressAllowed(address: string, client: CallbackClient): boolean {
  const n = normalise(address);
  if (n === null) return false;
  if (client.allow.some((e) => e.kind === 'net' && e.list.check(n.address, n.family))) return true;
  return !nonPublic.check(n.address, n.family);
}

/**
 * VF_CALLBACK_CLIENTS in a program's environment schema: parsed into clients by id, or one
 * problem per bad entry (start-up fails, printing them; a secret is never echoed).
 */
export const callbackClientsEnv = z
  .string()
  .optional()
  .transform((s, ctx): ReadonlyMap<string, CallbackClient> => {
    const r = parseCallbackClients(s);
    if (r.ok) return r.clients;
    for (const message of r.problems) ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  });

// The callback SSRF rules as pure functions: the configuration, the allowlist, the address ranges.
import { addressAllowed, checkCallbackUrl, clientIdOfApiKey, isNonPublicAddress, parseCallbackClients, type CallbackClient } from './callback-policy.js';

const SECRET = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;

function client(allow: string[]): CallbackClient {
  const r = parseCallbackClients(JSON.stringify([{ apiKey: 'k', secret: SECRET, allow }]));
  if (!r.ok) throw new Error(r.problems.join('; '));
  return r.clients.get(clientIdOfApiKey('k'))!;
}

test('non-public ranges: loopback, RFC 1918, link-local (metadata), CGNAT, ULA, v4-mapped and hex-mapped v6, NAT64, unspecified', () => {
  for (const a of ['127.0.0.1', '127.9.9.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255',
    '::1', '::', 'fc00::1', 'fd12:3456::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a00:1', '64:ff9b::a00:1', 'not-an-ip']) {
    expect([a, isNonPublicAddress(a)]).toEqual([a, true]);
  }
  for (const a of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '192.169.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
    expect([a, isNonPublicAddress(a)]).toEqual([a, false]);
  }
});

test('an address is allowed when public, or when an IP/CIDR entry covers it — never by a name entry', () => {
  const named = client(['localhost', 'hooks.example.com']);
  expect(addressAllowed('127.0.0.1', named)).toBe(false);
  expect(addressAllowed('93.184.216.34', named)).toBe(true);
  const ranged = client(['10.0.0.0/8', 'http://127.0.0.1', '::1']);
  expect(addressAllowed('10.200.0.1', ranged)).toBe(true);
  expect(addressAllowed('127.0.0.1', ranged)).toBe(true);
  expect(addressAllowed('::ffff:127.0.0.1', ranged)).toBe(true);
  expect(addressAllowed('127.0.0.2', ranged)).toBe(false);
  expect(addressAllowed('::1', ranged)).toBe(true);
  expect(addressAllowed('192.168.0.1', ranged)).toBe(false);
});

test('URL check: exact names, *.domain subdomains only, IPs by range; https unless the entry says http://; no credentials', () => {
  const c = client(['hooks.example.com', '*.corp.example', 'http://10.0.0.0/8', 'http://plain.example']);
  const ok = (u: string) => checkCallbackUrl(u, c).ok;
  expect(ok('https://hooks.example.com/x')).toBe(true);
  expect(ok('https://HOOKS.example.com:8443/x')).toBe(true);
  expect(ok('https://a.corp.example/x')).toBe(true);
  expect(ok('https://corp.example/x')).toBe(false);
  expect(ok('https://evilcorp.example/x')).toBe(false);
  expect(ok('https://hooks.example.com.evil/x')).toBe(false);
  expect(ok('http://hooks.example.com/x')).toBe(false);
  expect(ok('http://plain.example/x')).toBe(true);
  expect(ok('http://10.1.2.3/x')).toBe(true);
  expect(ok('http://11.1.2.3/x')).toBe(false);
  expect(ok('https://user:pw@hooks.example.com/x')).toBe(false);
  expect(ok('ftp://hooks.example.com/x')).toBe(false);
  expect(checkCallbackUrl('https://hooks.example.com/x', undefined)).toMatchObject({ ok: false, reason: expect.stringMatching(/not configured/) });
});

test('configuration: unset → no clients; bad JSON, bad secret, bad entry, duplicate client → problems that never echo a secret', () => {
  expect(parseCallbackClients(undefined)).toEqual({ ok: true, clients: new Map() });
  expect(parseCallbackClients('{')).toEqual({ ok: false, problems: ['not valid JSON'] });
  const leaky = 'whsec_short';
  const r = parseCallbackClients(JSON.stringify([
    { apiKey: 'a', secret: leaky, allow: ['x.example'] },
    { apiKey: 'b', secret: SECRET, allow: ['bad host!'] },
  ]));
  expect(r.ok).toBe(false);
  if (!r.ok) expect(r.problems.join('\n')).not.toContain(leaky);
  const bad = parseCallbackClients(JSON.stringify([{ apiKey: 'b', secret: SECRET, allow: ['bad host!', '10.0.0.0/40'] }, { apiKey: 'b', secret: SECRET, allow: ['x.example'] }]));
  expect(bad.ok ? [] : bad.problems).toEqual([
    '[0.allow]: "bad host!" is not a host, *.domain, IP or CIDR',
    '[0.allow]: "10.0.0.0/40": prefix /40 is too long',
    '[1]: a second entry for the same client',
  ]);
  const anon = parseCallbackClients(JSON.stringify([{ secret: SECRET, allow: ['x.example'] }]));
  expect(anon.ok && [...anon.clients.keys()]).toEqual(['anonymous']);
});

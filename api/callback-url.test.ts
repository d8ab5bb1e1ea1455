// callback_url on POST /jobs over real HTTP, real Redis and the SQLite store: who may ask for a
// completion callback, and where (the SSRF rules at submit; the send-time rules are in
// worker/callbacks.test.ts). Every answer is also checked against the OpenAPI document.
import { clientIdOfApiKey, parseCallbackClients } from '../core/callback-policy.js';
import { postJson, startApi, startServices, type TestApi, type TestServices } from '../testing/api-app.js';

const ALICE = 'alice-key-0123456789';
const BOB = 'bob-key-0123456789';
const SECRET = `whsec_${Buffer.from('callback secret of alice, 32 b!!').toString('base64')}`;

let s: TestServices;
let api: TestApi;

beforeAll(async () => {
  s = await startServices();
  const parsed = parseCallbackClients(JSON.stringify([{ apiKey: ALICE, secret: SECRET, allow: ['hooks.example.com', '*.alice.example', 'http://127.0.0.1'] }]));
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  api = await startApi(s, { apiKeys: [ALICE, BOB], callbackClients: parsed.clients });
});
afterAll(async () => {
  await api?.close();
  await s?.close();
});

const submit = (body: unknown, key = ALICE) => postJson(`${api.base}/jobs`, body, { authorization: `Bearer ${key}` });

async function expectProblem(res: Response, status: number, code: string, field?: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as { type: string; detail?: string; errors?: Array<{ field: string }> };
  expect(body.type).toBe(`${api.base}/problems/${code}`);
  if (field) expect(body.errors?.map((e) => e.field)).toContain(field);
  return body;
}

test('an allowlisted https host → 202; the job records the URL, the client and a pending delivery; GET shows it', async () => {
  const res = await submit({ vendor: 'acme', payload: { q: 1 }, callback_url: 'https://hooks.example.com/vf?x=1' });
  expect(res.status).toBe(202);
  const { request_id } = (await res.json()) as { request_id: string };
  const stored = await s.store.get(request_id);
  expect(stored).toMatchObject({ callback_url: 'https://hooks.example.com/vf?x=1', client_id: clientIdOfApiKey(ALICE), callback: { state: 'pending', attempts: 0 } });
  const view = (await (await fetch(`${api.base}/jobs/${request_id}`, { headers: { authorization: `Bearer ${ALICE}` } })).json()) as Record<string, unknown>;
  expect(view).toMatchObject({ priority: 'normal', callback_url: 'https://hooks.example.com/vf?x=1', callback: { state: 'pending', attempts: 0 } });
});

test('a subdomain of a *.domain entry and an http URL on an http:// IP entry are accepted; the lenient form keeps callback_url out of the payload', async () => {
  expect((await submit({ vendor: 'acme', payload: {}, callback_url: 'https://a.b.alice.example/hook' })).status).toBe(202);
  const res = await submit({ vendor: 'acme', company: 'x', callback_url: 'http://127.0.0.1:9/hook' });
  expect(res.status).toBe(202);
  const { request_id } = (await res.json()) as { request_id: string };
  expect((await s.store.get(request_id))?.payload).toEqual({ company: 'x' });
});

test('a host not on the allowlist → 422 callback_not_allowed; nothing is stored', async () => {
  const before = await s.store.countByStatus('acme');
  for (const url of ['https://evil.example.net/x', 'https://alice.example/x', 'https://hooks.example.com.evil.net/x']) {
    const body = await expectProblem(await submit({ vendor: 'acme', payload: {}, callback_url: url }), 422, 'callback-not-allowed', 'callback_url');
    expect(body.detail).toMatch(/not on this client's callback allowlist/);
  }
  expect(await s.store.countByStatus('acme')).toEqual(before);
});

test('loopback, private and link-local IP literals not allowlisted → 422; so is a name (localhost) not allowlisted', async () => {
  for (const url of ['http://127.0.0.2:8080/x', 'https://[::1]/x', 'https://10.0.0.1/x', 'https://169.254.169.254/latest/meta-data', 'http://localhost:8080/x']) {
    await expectProblem(await submit({ vendor: 'acme', payload: {}, callback_url: url }), 422, 'callback-not-allowed', 'callback_url');
  }
});

test('http to a host allowlisted without http:// → 422 (https only)', async () => {
  const body = await expectProblem(await submit({ vendor: 'acme', payload: {}, callback_url: 'http://hooks.example.com/x' }), 422, 'callback-not-allowed');
  expect(body.detail).toMatch(/must be https/);
});

test('credentials in the URL → 422; a client without callback configuration → 422', async () => {
  await expectProblem(await submit({ vendor: 'acme', payload: {}, callback_url: 'https://u:p@hooks.example.com/x' }), 422, 'callback-not-allowed');
  const body = await expectProblem(await submit({ vendor: 'acme', payload: {}, callback_url: 'https://hooks.example.com/x' }, BOB), 422, 'callback-not-allowed');
  expect(body.detail).toMatch(/not configured for callbacks/);
});

test('callback_url of the wrong type or not an http(s) URL → 400 validation naming callback_url', async () => {
  for (const callback_url of [42, 'not a url', 'ftp://hooks.example.com/x', 'file:///etc/passwd', `https://hooks.example.com/${'a'.repeat(2100)}`]) {
    await expectProblem(await submit({ vendor: 'acme', payload: {}, callback_url }), 400, 'validation', 'callback_url');
  }
});

test('the problem type has its page', async () => {
  const res = await fetch(`${api.base}/problems/callback-not-allowed`);
  expect(res.status).toBe(200);
  expect(await res.text()).toMatch(/Callback URL not allowed/);
});

describe('POST /jobs/batch: callback_url per item, under the same rules as POST /jobs', () => {
  const batch = (jobs: unknown[], key = ALICE) => postJson(`${api.base}/jobs/batch`, { jobs }, { authorization: `Bearer ${key}` });
  interface Answer {
    accepted: number;
    rejected: number;
    results: Array<{ status: number; request_id?: string; problem?: { type: string; detail?: string; errors?: Array<{ field: string }> } }>;
  }

  test('allowlisted items are stored with their URL, client and a pending delivery (and their priority); refused ones get the POST /jobs problem', async () => {
    const res = await batch([
      { vendor: 'acme', payload: { q: 1 }, priority: 'high', callback_url: 'https://hooks.example.com/batch' },
      { vendor: 'acme', payload: { q: 2 }, callback_url: 'https://evil.example.net/x' },
      { vendor: 'acme', payload: { q: 3 } },
      { vendor: 'acme', payload: { q: 4 }, callback_url: 'not a url' },
      { vendor: 'acme', company: 'lenient', callback_url: 'http://hooks.example.com/x' },
    ]);
    expect(res.status).toBe(200);
    const answer = (await res.json()) as Answer;
    expect(answer).toMatchObject({ accepted: 2, rejected: 3 });
    const [ok, refused, plain, malformed, httpRefused] = answer.results;
    expect(ok?.status).toBe(202);
    expect(await s.store.get(ok!.request_id!)).toMatchObject({
      priority: 'high',
      callback_url: 'https://hooks.example.com/batch',
      client_id: clientIdOfApiKey(ALICE),
      callback: { state: 'pending', attempts: 0 },
    });
    expect(refused).toMatchObject({ status: 422, problem: { type: `${api.base}/problems/callback-not-allowed` } });
    expect(refused?.problem?.errors?.map((e) => e.field)).toContain('callback_url');
    expect(refused?.problem?.detail).toMatch(/not on this client's callback allowlist/);
    const stored = await s.store.get(plain!.request_id!);
    expect(stored?.callback_url).toBeUndefined();
    expect(stored?.callback).toBeUndefined();
    expect(malformed).toMatchObject({ status: 400, problem: { type: `${api.base}/problems/validation` } });
    expect(malformed?.problem?.errors?.map((e) => e.field)).toContain('callback_url');
    expect(httpRefused).toMatchObject({ status: 422, problem: { type: `${api.base}/problems/callback-not-allowed` } });
    expect(httpRefused?.problem?.detail).toMatch(/must be https/);
  });

  test('a client without callback configuration gets 422 per item; its other items are accepted', async () => {
    const answer = (await (await batch([{ vendor: 'acme', payload: {}, callback_url: 'https://hooks.example.com/x' }, { vendor: 'acme', payload: {} }], BOB)).json()) as Answer;
    expect(answer).toMatchObject({ accepted: 1, rejected: 1 });
    expect(answer.results[0]).toMatchObject({ status: 422, problem: { type: `${api.base}/problems/callback-not-allowed` } });
    expect(answer.results[0]?.problem?.detail).toMatch(/not configured for callbacks/);
  });
});

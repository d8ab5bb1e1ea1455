// The Postman collection in docs/postman/: generated from the OpenAPI document, committed, and
// runnable. Fails when the committed files differ from a fresh generation (run `npm run postman`),
// and runs the committed collection with newman against a real api, signed webhook included.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { openApiDocument } from '../api/openapi.js';
import { SECRET, startApi, startServices, type TestApi, type TestServices } from '../testing/api-app.js';
import { postmanFiles, type OpenApiLike } from './postman-collection.js';
import { scenarios } from './postman-scenarios.js';

const DIR = 'docs/postman';
const doc = openApiDocument as unknown as OpenApiLike;

test('the committed collection and environment are what the OpenAPI document generates', async () => {
  const files = postmanFiles(doc, scenarios);
  expect(Object.keys(files).length).toBe(2);
  for (const [name, content] of Object.entries(files)) {
    const committed = await readFile(path.join(DIR, name), 'utf8').catch(() => '(missing)');
    // On failure: `npm run postman` regenerates docs/postman/ from the document.
    expect({ file: name, content: committed }).toEqual({ file: name, content });
  }
});

describe('the generator refuses to drift from the document', () => {
  const clone = () => JSON.parse(JSON.stringify(doc)) as OpenApiLike;

  test('an operation without a request', () => {
    const d = clone();
    d.paths['/extra'] = { get: { operationId: 'extra', responses: { '200': {} } } };
    expect(() => postmanFiles(d, scenarios)).toThrow(/no Postman request for operation\(s\) extra/);
  });

  test('a request for an operation the document lost', () => {
    const d = clone();
    delete d.paths['/health'];
    expect(() => postmanFiles(d, scenarios)).toThrow(/operation health, which the OpenAPI document does not have/);
  });

  test('an expected status the document does not list', () => {
    const d = clone();
    delete d.paths['/jobs']!['post']!.responses['422'];
    expect(() => postmanFiles(d, scenarios)).toThrow(/status 422 is not documented for submitJob/);
  });

  test('an example the document no longer has', () => {
    const d = clone();
    delete d.paths['/jobs']!['post']!.requestBody!.content['application/json']!.examples!['asyncJob'];
    expect(() => postmanFiles(d, scenarios)).toThrow(/has no request example "asyncJob"/);
  });
});

describe('newman runs the committed collection against a real api', () => {
  let s: TestServices;
  let api: TestApi;
  beforeAll(async () => {
    s = await startServices();
    api = await startApi(s, { apiKeys: ['postman-test-key'], adminApiKeys: ['postman-admin-key'] });
  });
  afterAll(async () => {
    await api?.close();
    await s?.close();
  });

  const newman = (vars: Record<string, string>) =>
    new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const args = ['node_modules/newman/bin/newman.js', 'run', path.join(DIR, 'vendorfetch.postman_collection.json')];
      args.push('-e', path.join(DIR, 'vendorfetch.postman_environment.json'), '--color', 'off', '--disable-unicode');
      for (const [k, v] of Object.entries(vars)) args.push('--env-var', `${k}=${v}`);
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      child.on('error', reject);
      child.on('exit', (code) => resolve({ code, output }));
    });

  const vars = () => ({ baseUrl: api.base, apiKey: 'postman-test-key', adminApiKey: 'postman-admin-key', webhookSecret: SECRET, syncVendor: 'acme', asyncVendor: 'slowco' });

  test('every request answers as its test script expects (the webhook signed by the pre-request script)', async () => {
    const { code, output } = await newman(vars());
    if (code !== 0) console.log(output);
    expect(code).toBe(0);
    // Every scenario ran, and none failed.
    expect(output).toMatch(new RegExp(`requests\\s+\\W\\s+${scenarios.length}\\s+\\W\\s+0`));
    expect(output).toMatch(/assertions\s+\W\s+\d+\s+\W\s+0/);
  }, 60_000);

  test('with a wrong webhook secret the signed delivery is refused (the script really signs)', async () => {
    const { code, output } = await newman({ ...vars(), webhookSecret: `whsec_${Buffer.from('another secret of 32 bytes......').toString('base64')}` });
    expect(code).not.toBe(0);
    expect(output).not.toMatch(/Error in prerequest-script/); // the script ran; only the key was wrong
    expect(output).toMatch(/Deliver the async answer \(signed\)[\s\S]*status 200/);
    expect(output).toMatch(/expected response to have status code 200 but got 401/);
  }, 60_000);
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeconfigTokenFiles, loadRotatingKubeConfigFromFile, withRotatingCredentials } from './credentials.js';

let dir = '';
beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'vf-creds-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const bearer = async (kc: KubeConfig): Promise<string | undefined> => {
  const o: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(o);
  return (o.headers as Record<string, string> | undefined)?.Authorization;
};

const kubeconfig = (user: Record<string, unknown>) => `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: ${JSON.stringify(user)}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`;

test('a kubeconfig token-file is re-read after the TTL and at once after invalidate (client-node reads it once)', async () => {
  writeFileSync(path.join(dir, 'token'), 'first\n');
  writeFileSync(path.join(dir, 'config'), kubeconfig({ 'token-file': path.join(dir, 'token') }));
  let t = 0;
  const creds = loadRotatingKubeConfigFromFile(path.join(dir, 'config'), { tokenFileTtlMs: 60_000, now: () => t });
  const plain = new KubeConfig();
  plain.loadFromFile(path.join(dir, 'config'));
  expect(await bearer(creds.kc)).toBe('Bearer first');

  writeFileSync(path.join(dir, 'token'), 'second\n');
  t = 30_000;
  expect(await bearer(creds.kc)).toBe('Bearer first'); // cached, as client-go does
  t = 60_000;
  expect(await bearer(creds.kc)).toBe('Bearer second'); // TTL passed
  writeFileSync(path.join(dir, 'token'), 'third\n');
  creds.invalidate(); // what a 401 does
  expect(await bearer(creds.kc)).toBe('Bearer third');
  expect((await bearer(plain))?.trim()).toBe('Bearer first'); // client-node alone: the token of load time, forever
});

test('the in-cluster token file (auth-provider tokenFile) rotates the same way', async () => {
  writeFileSync(path.join(dir, 'sa-token'), 'one');
  const source = new KubeConfig();
  source.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://10.0.0.1:443', skipTLSVerify: true }],
    users: [{ name: 'inCluster', authProvider: { name: 'tokenFile', config: { tokenFile: path.join(dir, 'sa-token') } } }],
    contexts: [{ name: 'x', cluster: 'c', user: 'inCluster' }],
    currentContext: 'x',
  });
  const creds = withRotatingCredentials(source);
  expect(await bearer(creds.kc)).toBe('Bearer one');
  writeFileSync(path.join(dir, 'sa-token'), 'two');
  creds.invalidate();
  expect(await bearer(creds.kc)).toBe('Bearer two');
});

test('an exec plugin runs again after invalidate, even while its cached credential has not expired', async () => {
  const counter = path.join(dir, 'n');
  writeFileSync(counter, '0');
  const script = `const fs=require('fs');const n=Number(fs.readFileSync(${JSON.stringify(counter)},'utf8'))+1;fs.writeFileSync(${JSON.stringify(counter)},String(n));` +
    `process.stdout.write(JSON.stringify({apiVersion:'client.authentication.k8s.io/v1',kind:'ExecCredential',status:{token:'exec-'+n,expirationTimestamp:new Date(Date.now()+3600e3).toISOString()}}))`;
  writeFileSync(path.join(dir, 'config'), kubeconfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: ['-e', script], interactiveMode: 'Never' } }));
  const creds = loadRotatingKubeConfigFromFile(path.join(dir, 'config'));
  expect(await bearer(creds.kc)).toBe('Bearer exec-1');
  expect(await bearer(creds.kc)).toBe('Bearer exec-1'); // cached until it expires
  creds.invalidate();
  expect(await bearer(creds.kc)).toBe('Bearer exec-2');
});

test('static tokens and client certificates are left as they are', async () => {
  writeFileSync(path.join(dir, 'config'), kubeconfig({ token: 'static' }));
  const creds = loadRotatingKubeConfigFromFile(path.join(dir, 'config'));
  expect(creds.kc.getCurrentUser()?.token).toBe('static');
  expect(await bearer(creds.kc)).toBe('Bearer static');
});

test('kubeconfigTokenFiles: first file wins, paths relative to their file', () => {
  writeFileSync(path.join(dir, 'a'), kubeconfig({ 'token-file': 'ta' }));
  writeFileSync(path.join(dir, 'b'), kubeconfig({ 'token-file': '/abs/tb' }));
  expect(kubeconfigTokenFiles([path.join(dir, 'a'), path.join(dir, 'b'), path.join(dir, 'missing')])).toEqual(new Map([['u', path.join(dir, 'ta')]]));
});

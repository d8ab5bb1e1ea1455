// Proves that the servers jest's global setup started are the real ones: a kube-apiserver
// v1.33 that stores objects and enforces RBAC, a MongoDB wire-protocol server (FerretDB), a
// redis-server, and a working helm binary.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { readCrds } from './crds.js';

const run = promisify(execFile);

function env(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(
      `${name} is not set: run through jest's global setup (npm test), or start the servers with ` +
        '`eval "$(npm run -s testenv -- up)"`',
    );
  }
  return v;
}

function kubeConfig(context?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(env('KUBECONFIG'));
  if (context) kc.setCurrentContext(context);
  return kc;
}

const suffix = () => randomBytes(4).toString('hex');

describe('kube-apiserver', () => {
  it('reports version v1.33.x', async () => {
    const v = await kubeConfig().makeApiClient(k8s.VersionApi).getCode();
    expect(v.gitVersion).toMatch(/^v1\.33\.\d+$/);
    expect(v.major).toBe('1');
    expect(v.minor).toBe('33');
  });

  it('creates, reads and deletes a namespace', async () => {
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    const name = `vf-smoke-${suffix()}`;
    const created = await core.createNamespace({ body: { metadata: { name, labels: { 'vf-smoke': 'yes' } } } });
    expect(created.metadata?.uid).toBeTruthy();

    const read = await core.readNamespace({ name });
    expect(read.metadata?.uid).toBe(created.metadata?.uid);
    expect(read.metadata?.labels?.['vf-smoke']).toBe('yes');

    await core.deleteNamespace({ name });
    // No kube-controller-manager runs here, so nothing finalizes the namespace: it stays
    // Terminating. That the API server accepted the delete is what this checks.
    const after = await core.readNamespace({ name }).catch((e: unknown) => e);
    if (after instanceof k8s.ApiException) expect(after.code).toBe(404);
    else expect((after as k8s.V1Namespace).status?.phase).toBe('Terminating');
  });

  it('enforces RBAC: a token user without bindings is forbidden, the admin is not', async () => {
    const kc = kubeConfig();
    const contexts = kc.getContexts().map((c) => c.name);
    const unprivileged = contexts.find((c) => c.endsWith('-unprivileged'));
    expect(unprivileged).toBeDefined();

    const denied = await kubeConfig(unprivileged)
      .makeApiClient(k8s.CoreV1Api)
      .listNamespace()
      .catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(k8s.ApiException);
    // 403, not 401: the token authenticated, authorization said no.
    expect((denied as k8s.ApiException<unknown>).code).toBe(403);
    expect(String((denied as k8s.ApiException<unknown>).body)).toContain('User \\"unprivileged\\" cannot list resource \\"namespaces\\"');

    const allowed = await kc.makeApiClient(k8s.CoreV1Api).listNamespace();
    expect(allowed.items.map((n) => n.metadata?.name)).toContain('default');
  });
});

describe('CRDs from crds/', () => {
  it('are all Established (the harness applied them before the suites)', async () => {
    const crdDir = path.resolve(import.meta.dirname, '..', '..', 'crds');
    const names = (await readCrds(crdDir)).map((c) => c.metadata!.name!);
    const ext = kubeConfig().makeApiClient(k8s.ApiextensionsV1Api);
    const notEstablished: string[] = [];
    for (const name of names) {
      const crd = await ext.readCustomResourceDefinition({ name }).catch(() => undefined);
      const ok = crd?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      if (!ok) notEstablished.push(name);
    }
    // On failure, the global setup's output says why the API server rejected each one.
    expect(notEstablished).toEqual([]);
  });
});

describe('FerretDB (MongoDB wire protocol)', () => {
  it('inserts and finds documents through the official mongodb driver', async () => {
    const client = new MongoClient(env('MONGODB_URL'), { serverSelectionTimeoutMS: 5_000 });
    const db = client.db(`vf_smoke_${suffix()}`);
    try {
      const jobs = db.collection<{ _id: string; vendor: string; attempts: number }>('jobs');
      await jobs.insertMany([
        { _id: 'a', vendor: 'acme', attempts: 0 },
        { _id: 'b', vendor: 'other', attempts: 2 },
      ]);
      expect(await jobs.findOne({ vendor: 'acme' })).toEqual({ _id: 'a', vendor: 'acme', attempts: 0 });
      const updated = await jobs.findOneAndUpdate({ _id: 'b' }, { $inc: { attempts: 1 } }, { returnDocument: 'after' });
      expect(updated?.attempts).toBe(3);
      expect(await jobs.countDocuments({ attempts: { $gt: 0 } })).toBe(1);
    } finally {
      await db.dropDatabase();
      await client.close();
    }
  });
});

describe('redis-server', () => {
  it('answers PING and stores a key', async () => {
    const redis = new Redis(env('REDIS_URL'), { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      expect(await redis.ping()).toBe('PONG');
      await redis.set('vf:smoke', '1');
      expect(await redis.get('vf:smoke')).toBe('1');
      await redis.del('vf:smoke');
    } finally {
      redis.disconnect();
    }
  });
});

describe('helm', () => {
  const helm = () => path.join(env('VF_TESTENV_BIN'), 'helm');

  it('runs `helm version`', async () => {
    const { stdout } = await run(helm(), ['version', '--short']);
    expect(stdout.trim()).toMatch(/^v3\.19\.\d+/);
  });

  it('talks to the test API server', async () => {
    const { stdout } = await run(helm(), ['list', '--all-namespaces', '--output', 'json', '--kubeconfig', env('KUBECONFIG')]);
    expect(JSON.parse(stdout)).toEqual([]);
  });
});

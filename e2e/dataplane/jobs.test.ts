// A sync and an async job, end to end through real processes and real vendor mocks: both end
// complete with cleaned results — trimmed strings, no PII at any depth.
import { randomBytes } from 'node:crypto';
import { SENSITIVE_VALUES, startAsyncMock, startSyncMock, type AsyncMock, type SyncMock } from '../../vendor-mocks/index.js';
import { eventually } from '../../testing/programs.js';
import { startDataPlane, type DataPlane } from './harness.js';

const secret = `whsec_${randomBytes(24).toString('base64')}`;
let plane: DataPlane;
let syncMock: SyncMock;
let asyncMock: AsyncMock;

beforeAll(async () => {
  syncMock = await startSyncMock({ port: 0 });
  plane = await startDataPlane({ VF_SECRET_E2E_WEBHOOK_SECRET: secret });
  asyncMock = await startAsyncMock({ port: 0, webhookSecret: secret, delayMs: 200 });
  await plane.publish('local/e2e', [
    { name: 'sync', url: syncMock.fetchUrl, quota: { requestsPerSecond: 50 } },
    {
      name: 'async',
      mode: 'async',
      url: asyncMock.fetchUrl,
      quota: { requestsPerSecond: 50 },
      callbackTimeoutSeconds: 30,
      webhookSecretRef: { name: 'e2e-webhook', key: 'secret' },
    },
  ]);
  await plane.startWorker('local/e2e', { VF_WEBHOOK_BASE_URL: plane.apiUrl });
}, 60_000);

afterAll(async () => {
  await plane?.stop();
  await syncMock?.close();
  await asyncMock?.close();
});

async function finished(id: string): Promise<Record<string, unknown>> {
  let job: Record<string, unknown> = {};
  await eventually(`job ${id} finished`, async () => {
    job = (await (await fetch(`${plane.apiUrl}/jobs/${id}`)).json()) as Record<string, unknown>;
    return job.status === 'complete' || job.status === 'failed';
  }, 30_000, 100);
  return job;
}

function expectClean(result: unknown): void {
  const text = JSON.stringify(result);
  for (const value of SENSITIVE_VALUES) expect(text).not.toContain(value);
  const walk = (v: unknown): void => {
    if (typeof v === 'string') expect(v).toBe(v.trim());
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(result);
}

test.each(['sync', 'async'])('a %s job completes with a cleaned result', async (vendor) => {
  const id = await plane.submit(vendor, { company: '  acme  ', nested: { email: 'a@b.c' } });
  const job = await finished(id);
  expect(job).toMatchObject({ request_id: id, vendor, status: 'complete', attempts: 1 });
  expect(job.result).toBeDefined();
  expect(job.completed_at).toEqual(expect.any(String));
  expectClean(job.result);
});

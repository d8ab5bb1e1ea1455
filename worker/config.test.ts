import { parseWorkerConfig } from './config.js';
import { callbackUrlFor } from './worker.js';

describe('parseWorkerConfig', () => {
  it('applies the documented defaults', () => {
    const r = parseWorkerConfig({ VF_POOL: 'local/partners' });
    expect(r).toEqual({
      ok: true,
      config: expect.objectContaining({
        REDIS_URL: 'redis://127.0.0.1:6379',
        VF_SQLITE_PATH: '.data/vendorfetch.db',
        VF_CONCURRENCY: 20,
        WORKER_METRICS_PORT: 8082,
        VF_PENDING_TIMEOUT_SECONDS: 600,
        LOG_LEVEL: 'info',
        VF_MAX_ANSWER_BYTES: 4 * 1024 * 1024,
        VF_UNSERVED_FAIL_AFTER_SECONDS: 86_400,
        VF_RETENTION_DAYS: 7,
        VF_IDEMPOTENCY_KEY_TTL_HOURS: 24,
      }),
    });
    expect(r.ok && r.config.MONGODB_URL).toBeUndefined();
  });

  it('treats empty variables as unset and accepts port 0', () => {
    const r = parseWorkerConfig({ VF_POOL: 'ns/p', MONGODB_URL: '', VF_CONCURRENCY: '', WORKER_METRICS_PORT: '0' });
    expect(r.ok && [r.config.MONGODB_URL, r.config.VF_CONCURRENCY, r.config.WORKER_METRICS_PORT]).toEqual([undefined, 20, 0]);
  });

  it('lists every problem at once', () => {
    const r = parseWorkerConfig({ VF_CONCURRENCY: 'many', REDIS_URL: 'http://x', WORKER_METRICS_PORT: '70000', LOG_LEVEL: 'loud' });
    expect(r.ok).toBe(false);
    const problems = r.ok ? [] : r.problems;
    for (const key of ['VF_POOL', 'VF_CONCURRENCY', 'REDIS_URL', 'WORKER_METRICS_PORT', 'LOG_LEVEL']) {
      expect(problems.some((p) => p.startsWith(`${key}:`))).toBe(true);
    }
  });
});

describe('callbackUrlFor', () => {
  it('appends the vendor to a webhook route, or the route to a bare base URL', () => {
    expect(callbackUrlFor('http://127.0.0.1:8080/vendor-webhook', 'async')).toBe('http://127.0.0.1:8080/vendor-webhook/async');
    expect(callbackUrlFor('http://127.0.0.1:8080/vendor-webhook/', 'async')).toBe('http://127.0.0.1:8080/vendor-webhook/async');
    expect(callbackUrlFor('https://vf.example', 'acme')).toBe('https://vf.example/vendor-webhook/acme');
    expect(callbackUrlFor('https://vf.example/hooks/{vendor}', 'acme')).toBe('https://vf.example/hooks/acme');
    expect(callbackUrlFor(undefined, 'acme')).toBeUndefined();
  });
});

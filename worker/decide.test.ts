import { classifyStatus, decide, decideOverdue, parseRetryAfter } from './decide.js';

const spec = { retry: { maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 1000 }, callbackTimeoutSeconds: 60 };
const fixed = () => 0.5;

describe('classifyStatus', () => {
  it('reads the body of a sync 2xx and accepts any async 2xx', () => {
    expect(classifyStatus(200, 'sync', null, 0)).toBe('read_body');
    expect(classifyStatus(202, 'async', null, 0)).toEqual({ kind: 'accepted', status: 202 });
  });
  it('5xx and 408 may be retried, other 4xx are refused', () => {
    expect(classifyStatus(503, 'sync', null, 0)).toMatchObject({ kind: 'failed', code: 'vendor_error' });
    expect(classifyStatus(408, 'sync', null, 0)).toMatchObject({ kind: 'failed' });
    expect(classifyStatus(400, 'sync', null, 0)).toMatchObject({ kind: 'rejected', status: 400 });
    expect(classifyStatus(404, 'async', null, 0)).toMatchObject({ kind: 'rejected' });
  });
  it('429 carries the Retry-After delay', () => {
    expect(classifyStatus(429, 'sync', '2', 0)).toEqual({ kind: 'rate_limited', status: 429, retryAfterMs: 2000 });
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('0.5', now)).toBe(500);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
  });
  it('falls back on missing or garbage values and never goes negative or past the cap', () => {
    expect(parseRetryAfter(null, now, 750)).toBe(750);
    expect(parseRetryAfter('soon', now, 750)).toBe(750);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('999999', now, 1000, 60_000)).toBe(60_000);
  });
});

describe('decide', () => {
  it('completes answered jobs and waits for the webhook of accepted ones', () => {
    expect(decide({ outcome: { kind: 'answered', status: 200, body: { a: 1 } }, failures: 0, spec, nowMs: 0 })).toEqual({ do: 'complete', result: { a: 1 } });
    expect(decide({ outcome: { kind: 'accepted', status: 202 }, failures: 0, spec, nowMs: 1000 })).toEqual({ do: 'await_callback', deadlineMs: 61_000 });
  });

  it('retries failures with growing backoff until maxAttempts, then fails with the last error', () => {
    const failed = { kind: 'failed', code: 'vendor_error', error: 'vendor_error: HTTP 500' } as const;
    const d1 = decide({ outcome: failed, failures: 1, spec, nowMs: 0, random: fixed });
    const d2 = decide({ outcome: failed, failures: 2, spec, nowMs: 0, random: fixed });
    expect(d1).toEqual({ do: 'retry', delayMs: 75, error: 'vendor_error: HTTP 500', countsAsFailure: true });
    expect(d2).toMatchObject({ do: 'retry', delayMs: 150 });
    expect(decide({ outcome: failed, failures: 3, spec, nowMs: 0 })).toEqual({ do: 'fail', error: 'vendor_error: HTTP 500' });
  });

  it('never burns an attempt for a 429 or an open breaker, however many failures came before', () => {
    const rl = decide({ outcome: { kind: 'rate_limited', status: 429, retryAfterMs: 1500 }, failures: 99, spec, nowMs: 0 });
    expect(rl).toEqual({ do: 'retry', delayMs: 1500, error: 'rate_limited: HTTP 429', countsAsFailure: false });
    expect(decide({ outcome: { kind: 'circuit_open' }, failures: 99, spec, nowMs: 0 })).toMatchObject({ do: 'retry', countsAsFailure: false });
  });

  it('fails a refused request at once and leaves an aborted one alone', () => {
    expect(decide({ outcome: { kind: 'rejected', status: 400, error: 'vendor_rejected: HTTP 400' }, failures: 1, spec, nowMs: 0 })).toEqual({ do: 'fail', error: 'vendor_rejected: HTTP 400' });
    expect(decide({ outcome: { kind: 'aborted' }, failures: 1, spec, nowMs: 0 })).toEqual({ do: 'leave' });
  });
});

describe('decideOverdue', () => {
  const sync = { mode: 'sync' as const, retry: spec.retry };
  const async_ = { mode: 'async' as const, retry: spec.retry };
  it('re-queues pending jobs', () => {
    expect(decideOverdue({ status: 'pending', attempts: 7 }, sync, 0)).toEqual({ do: 'requeue' });
  });
  it('retries an async job whose webhook never came, then fails it with callback_timeout', () => {
    expect(decideOverdue({ status: 'processing', attempts: 2 }, async_, 0)).toEqual({ do: 'requeue', error: 'callback_timeout' });
    expect(decideOverdue({ status: 'processing', attempts: 3 }, async_, 0)).toEqual({ do: 'fail', error: 'callback_timeout' });
    expect(decideOverdue({ status: 'processing', attempts: 3 }, async_, 1)).toEqual({ do: 'requeue', error: 'callback_timeout' });
  });
  it('re-queues a sync job whose worker died, up to twice maxAttempts', () => {
    expect(decideOverdue({ status: 'processing', attempts: 3 }, sync, 0)).toEqual({ do: 'requeue', error: 'worker_lost' });
    expect(decideOverdue({ status: 'processing', attempts: 6 }, sync, 0)).toEqual({ do: 'fail', error: 'worker_lost' });
  });
  it('counts only the calls since the last dead-letter replay (a fresh budget)', () => {
    expect(decideOverdue({ status: 'processing', attempts: 5, replayed_attempts: 3 }, async_, 0)).toEqual({ do: 'requeue', error: 'callback_timeout' });
    expect(decideOverdue({ status: 'processing', attempts: 6, replayed_attempts: 3 }, async_, 0)).toEqual({ do: 'fail', error: 'callback_timeout' });
  });
});

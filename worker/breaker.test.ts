// A vendor's circuit breaker and call timeout: what opens it, what it ignores, and the one
// half-open trial.
import { CountedFailure, createVendorBreaker, type CircuitName } from './breaker.js';

const spec = { timeoutSeconds: 1, circuitBreaker: { consecutiveFailures: 2, halfOpenAfterSeconds: 1 } };
const fail = () => Promise.reject(new CountedFailure('vendor_error', 'vendor_error: HTTP 500'));

describe('createVendorBreaker', () => {
  it('opens after consecutive counted failures, blocks until half-open, then admits exactly one trial', async () => {
    const states: CircuitName[] = [];
    const b = createVendorBreaker(spec, (s) => states.push(s));
    await expect(b.execute(fail)).rejects.toBeInstanceOf(CountedFailure);
    expect(b.state()).toBe('closed');
    await expect(b.execute(fail)).rejects.toBeInstanceOf(CountedFailure);
    expect(b.state()).toBe('open');
    const blocked = b.blockedForMs(Date.now());
    expect(blocked).toBeGreaterThan(900);
    expect(b.admit(Date.now()).ok).toBe(false);

    await new Promise((r) => setTimeout(r, blocked + 20));
    const trial = b.admit(Date.now());
    expect(trial.ok).toBe(true);
    expect(b.admit(Date.now()).ok).toBe(false); // one trial at a time
    await expect(b.execute(async () => 'ok')).resolves.toBe('ok');
    trial.done();
    expect(b.state()).toBe('closed');
    expect(b.admit(Date.now()).ok).toBe(true);
    expect(states).toEqual(['open', 'half-open', 'closed']);
    b.dispose();
  });

  it('does not count answers that are not failures (4xx, 429 are returned, not thrown)', async () => {
    const b = createVendorBreaker(spec);
    for (let i = 0; i < 5; i++) await b.execute(async () => ({ kind: 'rejected' }));
    expect(b.state()).toBe('closed');
    b.dispose();
  });

  it('times a slow call out', async () => {
    const b = createVendorBreaker({ ...spec, timeoutSeconds: 1 });
    const t = Date.now();
    await expect(b.execute((signal) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))))).rejects.toThrow();
    expect(Date.now() - t).toBeGreaterThanOrEqual(950);
    b.dispose();
  });
});

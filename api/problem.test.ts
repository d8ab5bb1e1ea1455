// toProblem: every error a handler throws becomes one RFC 9457 problem, and none leaks internals.
import { VendorfetchError, unavailable } from '../core/errors.js';
import { toProblem } from './problem.js';

describe('toProblem', () => {
  test('our errors get their code\'s status and keep their field list', () => {
    const err = new VendorfetchError('validation', 'bad', { retryable: false, details: { errors: [{ field: 'a', detail: 'b' }] } });
    expect(toProblem(err)).toEqual({ type: '/problems/validation', title: 'Invalid request', status: 400, detail: 'bad', errors: [{ field: 'a', detail: 'b' }] });
  });
  test('a dependency outage says which, never the cause', () => {
    const p = toProblem(unavailable('job store', new Error('connect ECONNREFUSED 10.0.0.7:27017 user=admin')));
    expect(p).toMatchObject({ status: 503, detail: 'job store is unavailable' });
    expect(JSON.stringify(p)).not.toContain('10.0.0.7');
  });
  test('body-parser errors', () => {
    expect(toProblem({ type: 'entity.parse.failed', status: 400 }).status).toBe(400);
    expect(toProblem({ type: 'entity.too.large', status: 413, limit: 262144 })).toMatchObject({ status: 413, type: '/problems/payload-too-large' });
  });
  test('anything else → 500 without internals', () => {
    const p = toProblem(new TypeError('cannot read x of undefined at /srv/app.js:12'));
    expect(p).toEqual({ type: '/problems/internal', title: 'Internal server error', status: 500, detail: 'an unexpected error occurred' });
  });
});

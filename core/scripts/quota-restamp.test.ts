// vfQuotaRestamp on a real redis-server: a slow grant's log entry moves to now, and what was
// derived from its old stamp moves with it — the unsettled bound (else a re-stamped grant whose
// worker dies stops counting early) and the GCRA cursor (else the next grant comes too close).
import { useRedisServer } from '../../testing/use-redis-server.js';
import { quotaAcquireScript, TAT_MEMBER } from './quota-acquire.js';
import { quotaRestampScript } from './quota-restamp.js';

const server = useRedisServer();
const WINDOW_US = 1_010_000;
const LEASE_US = 60_000_000;
let n = 0;

async function grantOne(rps: number) {
  const k = { window: `rq${++n}`, inflight: `ri${n}`, pause: `rp${n}`, unsettled: `ru${n}` };
  const [granted, , , , stamp] = await quotaAcquireScript(
    server.redis,
    [k.window, k.inflight, k.pause, k.unsettled],
    [rps, 1, 0, WINDOW_US, LEASE_US, TAT_MEMBER, 0, 'grant-1'],
  );
  expect(granted).toBe(1);
  return { k, stamp: stamp! };
}

test('the entry, its unsettled bound and the GCRA cursor all move by what the grant moved', async () => {
  const rps = 4;
  const { k, stamp } = await grantOne(rps);
  expect(Number(await server.redis.zscore(k.unsettled, 'grant-1'))).toBe(stamp + LEASE_US);
  await new Promise((r) => setTimeout(r, 30));
  const [moved, nowUs] = await quotaRestampScript(server.redis, [k.window, k.unsettled], [WINDOW_US, 0, WINDOW_US / rps, TAT_MEMBER, 'grant-1']);
  expect(moved).toBe(1);
  const entry = Number(await server.redis.zscore(k.window, 'grant-1'));
  expect(entry).toBe(nowUs);
  const delta = entry - stamp;
  expect(delta).toBeGreaterThanOrEqual(30_000);
  expect(Number(await server.redis.zscore(k.unsettled, 'grant-1'))).toBe(stamp + LEASE_US + delta);
  expect(Number(await server.redis.zscore(k.window, TAT_MEMBER))).toBeGreaterThanOrEqual(entry + WINDOW_US / rps);
});

test('with burst 1 the next grant keeps the spacing from the re-stamped one', async () => {
  const rps = 4;
  const { k } = await grantOne(rps);
  await new Promise((r) => setTimeout(r, 30));
  await quotaRestampScript(server.redis, [k.window, k.unsettled], [WINDOW_US, 0, WINDOW_US / rps, TAT_MEMBER, 'grant-1']);
  const moved = Number(await server.redis.zscore(k.window, 'grant-1'));
  // A reservation horizon of a full window: the next slot is granted at once, stamped when it is free.
  const [granted, , , , next] = await quotaAcquireScript(
    server.redis,
    [k.window, k.inflight, k.pause, k.unsettled],
    [rps, 1, 0, WINDOW_US, LEASE_US, TAT_MEMBER, WINDOW_US, 'grant-2'],
  );
  expect(granted).toBe(1);
  expect(next! - moved).toBeGreaterThanOrEqual(WINDOW_US / rps);
});

test('nothing moves once a grant is a window old', async () => {
  const { k, stamp } = await grantOne(4);
  await server.redis.zadd(k.window, 'XX', stamp - WINDOW_US, 'grant-1');
  const [moved] = await quotaRestampScript(server.redis, [k.window, k.unsettled], [WINDOW_US, 0, WINDOW_US / 4, TAT_MEMBER, 'grant-1']);
  expect(moved).toBe(0);
  expect(Number(await server.redis.zscore(k.unsettled, 'grant-1'))).toBe(stamp + LEASE_US);
});

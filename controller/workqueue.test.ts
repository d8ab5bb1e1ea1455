import { createWorkQueue } from './workqueue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a key queued many times is processed once', async () => {
  const q = createWorkQueue();
  const seen: string[] = [];
  q.add('a');
  q.add('a');
  q.add('b');
  q.add('a');
  const done = q.run(async (k) => void seen.push(k));
  await sleep(20);
  q.shutdown();
  await done;
  expect(seen).toEqual(['a', 'b']);
});

test('a key added while processing runs again afterwards, never concurrently', async () => {
  const q = createWorkQueue();
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  const done = q.run(async () => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    runs++;
    if (runs === 1) {
      q.add('a');
      q.add('a');
    }
    await sleep(10);
    running--;
  }, 4);
  q.add('a');
  await sleep(60);
  q.shutdown();
  await done;
  expect(runs).toBe(2);
  expect(maxRunning).toBe(1);
});

test('rate-limited requeue backs off exponentially per key; forget resets it', async () => {
  const q = createWorkQueue({ baseDelayMs: 20, maxDelayMs: 50 });
  const times: number[] = [];
  const start = Date.now();
  const done = q.run(async (k) => {
    times.push(Date.now() - start);
    if (times.length < 4) q.addRateLimited(k);
  });
  q.add('x');
  await sleep(250);
  q.shutdown();
  await done;
  expect(times).toHaveLength(4);
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  expect(gaps[0]).toBeGreaterThanOrEqual(18);
  expect(gaps[1]).toBeGreaterThanOrEqual(38);
  expect(gaps[2]).toBeGreaterThanOrEqual(48); // capped at maxDelayMs
  expect(gaps[2]).toBeLessThan(90);
  expect(q.failures('x')).toBe(3);
  q.forget('x');
  expect(q.failures('x')).toBe(0);
});

test('addAfter keeps the earliest time; shutdown cancels timers', async () => {
  const q = createWorkQueue();
  const seen: number[] = [];
  const start = Date.now();
  const done = q.run(async () => void seen.push(Date.now() - start));
  q.addAfter('k', 200);
  q.addAfter('k', 20);
  q.addAfter('k', 100);
  await sleep(150);
  expect(seen).toHaveLength(1);
  expect(seen[0]).toBeLessThan(90);
  q.addAfter('k', 30);
  q.shutdown();
  await done;
  await sleep(50);
  expect(seen).toHaveLength(1);
});

// batchPerTurn: what one turn's adds cost (one send per key), and when each add settles.
import { batchPerTurn } from './batch.js';

/** Resolves after the pending setImmediate callbacks (the batcher's flush among them) have run. */
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

/** A send whose calls are recorded and whose results the test decides. */
function controlledSend() {
  const calls: Array<{ key: string; items: number[]; resolve: () => void; reject: (e: unknown) => void }> = [];
  const send = (key: string, items: number[]) =>
    new Promise<void>((resolve, reject) => {
      calls.push({ key, items, resolve, reject });
    });
  return { calls, send };
}

/** 'pending', 'resolved' or the rejection, readable synchronously. */
function track(p: Promise<void>) {
  const t: { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } = { state: 'pending' };
  p.then(
    () => (t.state = 'resolved'),
    (e: unknown) => Object.assign(t, { state: 'rejected', error: e }),
  );
  return t;
}

describe('batchPerTurn', () => {
  test('the adds of one turn reach send once per key, in the order they were added, and not before the turn ends', async () => {
    const sent: Array<[string, number[]]> = [];
    const add = batchPerTurn<number>(async (key, items) => void sent.push([key, items]));
    const adds = [add('a', 1), add('b', 2), add('a', 3)];
    expect(sent).toEqual([]);
    await Promise.all(adds);
    expect(sent).toEqual([
      ['a', [1, 3]],
      ['b', [2]],
    ]);
  });

  test('an add in a later turn is a new batch', async () => {
    const sent: Array<[string, number[]]> = [];
    const add = batchPerTurn<number>(async (key, items) => void sent.push([key, items]));
    await add('a', 1);
    await add('a', 2);
    expect(sent).toEqual([
      ['a', [1]],
      ['a', [2]],
    ]);
  });

  test('an add resolves only once its batch has been sent', async () => {
    const { calls, send } = controlledSend();
    const add = batchPerTurn(send);
    const first = track(add('a', 1));
    const second = track(add('a', 2));
    await nextTurn();
    expect(calls.map((c) => c.items)).toEqual([[1, 2]]);
    expect([first.state, second.state]).toEqual(['pending', 'pending']);
    calls[0]!.resolve();
    await nextTurn();
    expect([first.state, second.state]).toEqual(['resolved', 'resolved']);
  });

  test("a failed send rejects every add of its batch with the send's error; other keys' batches are not affected", async () => {
    const { calls, send } = controlledSend();
    const add = batchPerTurn(send);
    const a1 = track(add('a', 1));
    const a2 = track(add('a', 2));
    const b = track(add('b', 3));
    await nextTurn();
    const down = new Error('connection lost');
    calls.find((c) => c.key === 'a')!.reject(down);
    calls.find((c) => c.key === 'b')!.resolve();
    await nextTurn();
    expect(a1).toEqual({ state: 'rejected', error: down });
    expect(a2).toEqual({ state: 'rejected', error: down });
    expect(b.state).toBe('resolved');
  });

  test("with maxItems, a key's adds of one turn go out in batches of at most that many, in the same turn, each settling on its own", async () => {
    const { calls, send } = controlledSend();
    const add = batchPerTurn(send, { maxItems: 2 });
    const adds = [1, 2, 3, 4, 5].map((n) => track(add('a', n)));
    await nextTurn();
    expect(calls.map((c) => c.items)).toEqual([[1, 2], [3, 4], [5]]);
    const down = new Error('timed out');
    calls[0]!.resolve();
    calls[1]!.reject(down);
    await nextTurn();
    expect(adds.map((a) => a.state)).toEqual(['resolved', 'resolved', 'rejected', 'rejected', 'pending']);
    expect(adds[2]!.error).toBe(down);
    calls[2]!.resolve();
    await nextTurn();
    expect(adds[4]!.state).toBe('resolved');
  });

  test('an add made while a batch is being sent waits for the next one, without waiting for that send', async () => {
    const { calls, send } = controlledSend();
    const add = batchPerTurn(send);
    const early = track(add('a', 1));
    await nextTurn();
    const late = track(add('a', 2));
    await nextTurn();
    expect(calls.map((c) => c.items)).toEqual([[1], [2]]);
    calls[1]!.resolve();
    await nextTurn();
    expect([early.state, late.state]).toEqual(['pending', 'resolved']);
    calls[0]!.resolve();
    await nextTurn();
    expect(early.state).toBe('resolved');
  });
});

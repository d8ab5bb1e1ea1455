/**
 * Gathers the items added during one event-loop turn, per key, and hands each key's batch to
 * `send` once (from a setImmediate): many jobs finishing in one turn cost one Redis command,
 * not one each. Each `add` settles with its batch: resolved when `send` resolves, rejected
 * with its error.
 */
export function batchPerTurn<T>(send: (key: string, items: T[]) => Promise<unknown>): (key: string, item: T) => Promise<void> {
  type Batch = { items: T[]; settle: Array<[() => void, (e: unknown) => void]> };
  let waiting = new Map<string, Batch>();
  const flush = (): void => {
    const due = waiting;
    waiting = new Map();
    for (const [key, b] of due) {
      send(key, b.items).then(
        () => b.settle.forEach(([resolve]) => resolve()),
        (e: unknown) => b.settle.forEach(([, reject]) => reject(e)),
      );
    }
  };
  return (key, item) =>
    new Promise<void>((resolve, reject) => {
      if (waiting.size === 0) setImmediate(flush);
      let b = waiting.get(key);
      if (!b) waiting.set(key, (b = { items: [], settle: [] }));
      b.items.push(item);
      b.settle.push([resolve, reject]);
    });
}

/**
 * Gathers the items added during one event-loop turn, per key, and hands each key's batch to
 * `send` once (from a setImmediate): many jobs finishing in one turn cost one Redis command,
 * not one each. Each `add` settles with its batch: resolved when `send` resolves, rejected
 * with its error.
 *
 * Two optional bounds (default: none):
 * - `maxItems`: a batch holds at most this many items; a key with more adds in one turn gets
 *   several batches, sent in the same turn, each settling on its own.
 * - `maxInFlight`: at most this many of a key's batches are being sent at once. Adds made
 *   meanwhile wait, and go out together as soon as a send settles (group commit): a store
 *   that takes one writer at a time gets fewer, larger commands instead of a queue of small ones.
 */
export function batchPerTurn<T>(
  send: (key: string, items: T[]) => Promise<unknown>,
  opts: { maxItems?: number; maxInFlight?: number } = {},
): (key: string, item: T) => Promise<void> {
  type Waiting = { item: T; resolve: () => void; reject: (e: unknown) => void };
  type Lane = { waiting: Waiting[]; sending: number; scheduled: boolean };
  const maxItems = Math.max(1, opts.maxItems ?? Infinity);
  const maxInFlight = Math.max(1, opts.maxInFlight ?? Infinity);
  const lanes = new Map<string, Lane>();

  /** Sends the lane's waiting items in batches while it has room; drops the lane once idle. */
  const sendWaiting = (key: string, lane: Lane): void => {
    while (lane.waiting.length > 0 && lane.sending < maxInFlight) {
      const batch = lane.waiting.splice(0, maxItems);
      lane.sending++;
      send(key, batch.map((w) => w.item))
        .then(
          () => batch.forEach((w) => w.resolve()),
          (e: unknown) => batch.forEach((w) => w.reject(e)),
        )
        .finally(() => {
          lane.sending--;
          // Items held back by maxInFlight go now; a scheduled turn's flush takes them otherwise.
          if (!lane.scheduled) sendWaiting(key, lane);
        });
    }
    if (lane.sending === 0 && lane.waiting.length === 0 && !lane.scheduled) lanes.delete(key);
  };

  return (key, item) =>
    new Promise<void>((resolve, reject) => {
      let lane = lanes.get(key);
      if (!lane) lanes.set(key, (lane = { waiting: [], sending: 0, scheduled: false }));
      lane.waiting.push({ item, resolve, reject });
      if (lane.scheduled) return;
      // setImmediate runs after this turn's I/O callbacks: every add of the turn joins.
      lane.scheduled = true;
      const l = lane;
      setImmediate(() => {
        l.scheduled = false;
        sendWaiting(key, l);
      });
    });
}

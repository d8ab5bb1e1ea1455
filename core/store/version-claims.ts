// Compare-and-set on a MongoDB-wire server whose updates are not atomic.
//
// FerretDB v1 (the test environment's server and the chart's dev store) applies an update as
// "read the matching documents, write them back" without a lock (FerretDB issue #3040). Two
// conditional updates of one job can then both match, or one can write back a stale copy over
// the other. In the fault suite, after a store restart, two entries of one job (the reclaimed
// one and the sweeper's) both started attempt 1 and completed it; the sweeper's write-back of a
// pending copy undid a completion, and the job ran again (e2e/faults/store-outage.test.ts).
// Inserts ARE atomic there (a unique _id), so on such a server every conditional update of a
// job goes through its version, a counter `v` in the document:
//   1. read the job (it must match the caller's filter, else: no match);
//   2. claim its version by inserting "<request_id>@<v>" — only one writer of version v wins;
//      a loser looks again shortly (the job is changing; the filter may still match after);
//   3. update it and move v on. The claim of the version it left is left for retention: any
//      later writer reads, and claims, the new version (a failed update drops its claim).
// A claim whose owner died between 2 and 3 blocks that version: after `staleAfterMs` (far
// beyond one operation's deadline) it is handed on — "<claim>~" is claimed instead, again by
// one insert. Writes that bypass this (create, delete, the Idempotency-Key expiry of day-old
// jobs) do not race with status changes in practice. MongoDB and FerretDB v2 need none of it.
//
// Every read and write here selects the job by `{_id}` ALONE, and the caller's filter is checked
// in process (matchesFilter): FerretDB v1 on SQLite looks a document up by key only for a filter
// that is exactly `{_id}`; any other field makes it scan the collection in insertion order
// (measured at 1,500 jobs: `findOne({_id})` 18 ms, `findOne({_id, status})` 120–175 ms, growing
// with the collection; one scan per status change still overloaded the chart e2e's dev store).
// The version check moves from the update's filter to a second read after the claim: once this
// writer holds version v and reads v again, no other writer can move the job (each must hold
// the claim of the version it read), so the update by `{_id}` applies to what was checked — and
// the claim is kept while the update's fate is unknown (see `keep`).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Collection, Document } from 'mongodb';
import { MongoServerError } from 'mongodb';
import { forWrite, type Deadline } from './deadline.js';

export interface ClaimDoc {
  _id: string;
  at: Date;
}

/** A collection keyed by string ids (jobs). */
export type Docs = Collection<{ _id: string } & Document>;

/** One job's conditional update as one step: the document after it, or null if it did not match. */
export type VersionedUpdate = (docs: Docs, id: string, filter: Document, update: Document, o: Deadline) => Promise<Document | null>;

const isDuplicateKey = (e: unknown) => e instanceof MongoServerError && e.code === 11000;

/**
 * `timeoutMs`: one operation's deadline (dropping a claim gets its own, so that a caller whose
 * deadline passed mid-update still frees the version); `staleAfterMs`: when a claim is handed on.
 */
export function versionedUpdate(claims: Collection<ClaimDoc>, t: { timeoutMs: number; staleAfterMs: number }): VersionedUpdate {
  /** The claim's id if this writer now owns `version`, else undefined (another writer does). */
  async function claim(version: string, o: Deadline): Promise<string | undefined> {
    for (let id = version, hops = 0; hops < 8; id += '~', hops++) {
      try {
        await claims.insertOne({ _id: id, at: new Date() }, forWrite(o));
        return id;
      } catch (e) {
        if (!isDuplicateKey(e)) throw e;
      }
      const held = await claims.findOne({ _id: id }, o);
      if (held && Date.now() - held.at.getTime() < t.staleAfterMs) return undefined;
    }
    return undefined;
  }
  const drop = (id: string) =>
    claims.deleteOne({ _id: id }, forWrite({ signal: AbortSignal.timeout(t.timeoutMs) })).catch(() => {
      // Left behind, the claim turns stale and is handed on: only slower. Retention removes it.
    });

  const read = async (docs: Docs, id: string, filter: Document, o: Deadline) => {
    const doc = await docs.findOne({ _id: id }, o);
    return doc && matchesFilter(doc, filter) ? doc : null;
  };

  return async (docs, id, filter, update, o) => {
    for (;;) {
      const doc = await read(docs, id, filter, o);
      if (!doc) return null;
      const v = doc['v'] as number | undefined;
      const claimed = await claim(`${id}@${v ?? 0}`, o);
      if (claimed === undefined) {
        // Another writer owns this version: it is changing now. Look again after it.
        await sleep(5 + Math.random() * 20, undefined, o);
        continue;
      }
      // Whether the claim must stay: the job left version v (the claim is dead weight, left to
      // retention — a write fewer), or our update's fate is unknown. An update abandoned at its
      // deadline can still run on the server later (a frozen store resumed); while we hold v, no
      // other writer can move the job, so such a late write lands on the version it was meant
      // for. (Released, the claim let another writer move the job on, and the late write then
      // completed a job twice: e2e/faults/store-outage.test.ts.) Held past staleAfterMs, the
      // claim is handed on as for a dead writer.
      let keep = false;
      try {
        // Our first read may be older than the claim (its writer had already moved v on and
        // dropped it): only a job still at v, still matching, is ours to update.
        const now = await read(docs, id, filter, o);
        if (!now) return null;
        if (now['v'] !== v) continue;
        const inc = { ...(update['$inc'] as object | undefined), v: 1 };
        keep = true;
        const after = await docs.findOneAndUpdate({ _id: id }, { ...update, $inc: inc }, { returnDocument: 'after', ...o });
        if (after) return after;
        keep = false;
        // The job vanished (deleted): read again, which finds nothing.
      } finally {
        if (!keep) await drop(claimed);
      }
    }
  };
}

/**
 * Whether a document matches a job-update filter, evaluated here rather than by the server
 * (see the header). Only the forms the store's filters use: equality of a scalar, `$in`,
 * `$gte`, `$lte` (numbers or Dates: the callback sender's lease), `$exists`; anything else
 * throws, so a new filter cannot silently match wrongly.
 */
export function matchesFilter(doc: Document, filter: Document): boolean {
  return Object.entries(filter).every(([field, cond]) => {
    const value: unknown = doc[field];
    if (cond === null || typeof cond !== 'object' || cond instanceof Date) return sameScalar(value, cond);
    return Object.entries(cond as Record<string, unknown>).every(([op, arg]) => {
      switch (op) {
        case '$in':
          return (arg as unknown[]).some((a) => sameScalar(value, a));
        case '$gte':
          return typeof value === 'number' && typeof arg === 'number' && value >= arg;
        case '$lte': {
          const d = ordered(value, arg);
          return d !== undefined && d <= 0;
        }
        case '$exists':
          return (value !== undefined) === Boolean(arg);
        default:
          throw new Error(`matchesFilter: operator ${op} is not supported (field ${field})`);
      }
    });
  });
}

/** a − b for two numbers or two Dates (the forms range filters use here); undefined otherwise (no match). */
const ordered = (a: unknown, b: unknown): number | undefined =>
  typeof a === 'number' && typeof b === 'number' ? a - b : a instanceof Date && b instanceof Date ? a.getTime() - b.getTime() : undefined;

const sameScalar = (a: unknown, b: unknown): boolean =>
  a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b;

/** Retention: claims left by writers that died (the others are dropped at once). */
export async function deleteClaimsBefore(claims: Collection<ClaimDoc>, cutoff: Date, o: Deadline): Promise<void> {
  await claims.deleteMany({ at: { $lt: cutoff } }, forWrite(o));
}

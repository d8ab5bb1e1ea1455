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
// Reads select the job by `{_id}` ALONE, and the caller's filter is checked in process
// (matchesFilter): FerretDB v1 on SQLite looks a document up by key only for a filter that is
// exactly `{_id}`; any other field makes it scan the collection in insertion order (measured at
// 1,500 jobs: `findOne({_id})` 18 ms, `findOne({_id, status})` 120–175 ms, growing with the
// collection). The update keeps `v` in its filter — one scan per status change instead of two —
// because only the server can judge a write it runs late (see below).
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
      let moved = false;
      try {
        // The version stays in the update's filter, though it costs FerretDB a scan: a command
        // abandoned at its deadline can still run on the server much later (a frozen store
        // resumed), and only a filter evaluated there and then keeps such a late write from
        // landing on a job another writer has moved on since (a second completion was seen).
        const atVersion = v === undefined ? { v: { $exists: false } } : { v };
        const inc = { ...(update['$inc'] as object | undefined), v: 1 };
        const after = await docs.findOneAndUpdate({ _id: id, ...atVersion }, { ...update, $inc: inc }, { returnDocument: 'after', ...o });
        moved = after !== null;
        if (after) return after;
        // Our read was older than the claim (whose writer had already moved v on and dropped
        // it), or the job vanished: read again.
      } finally {
        // A claim on a version the job has left blocks no one (writers claim the version they
        // read): it stays for retention, which saves a write on this one-writer server. A claim
        // on the version the job still has would block it until stale: dropped now.
        if (!moved) await drop(claimed);
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

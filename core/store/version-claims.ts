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
//   3. update it, filtered on v as well, and move v on; then drop the claim (any later writer
//      reads the new version).
// A claim whose owner died between 2 and 3 blocks that version: after `staleAfterMs` (far
// beyond one operation's deadline) it is handed on — "<claim>~" is claimed instead, again by
// one insert. Writes that bypass this (create, delete, the Idempotency-Key expiry of day-old
// jobs) do not race with status changes in practice. MongoDB and FerretDB v2 need none of it.
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

  return async (docs, id, filter, update, o) => {
    for (;;) {
      const doc = await docs.findOne({ ...filter, _id: id }, o);
      if (!doc) return null;
      const v = doc['v'] as number | undefined;
      const claimed = await claim(`${id}@${v ?? 0}`, o);
      if (claimed === undefined) {
        // Another writer owns this version: it is changing now. Look again after it.
        await sleep(5 + Math.random() * 20, undefined, o);
        continue;
      }
      try {
        const atVersion = v === undefined ? { v: { $exists: false } } : { v };
        const inc = { ...(update['$inc'] as object | undefined), v: 1 };
        const after = await docs.findOneAndUpdate({ ...filter, _id: id, ...atVersion }, { ...update, $inc: inc }, { returnDocument: 'after', ...o });
        if (after) return after;
        // Our read was older than the claim (whose writer had already moved v on and dropped
        // it), or the job vanished: read again.
      } finally {
        await drop(claimed);
      }
    }
  };
}

/** Retention: claims left by writers that died (the others are dropped at once). */
export async function deleteClaimsBefore(claims: Collection<ClaimDoc>, cutoff: Date, o: Deadline): Promise<void> {
  await claims.deleteMany({ at: { $lt: cutoff } }, forWrite(o));
}

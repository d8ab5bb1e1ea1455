// The ceiling of the MongoDB ingest path: the documents the api's store writes for POST /jobs
// (the fields of mongo.ts's JobDoc, its indexes, its default write concern `majority`), written
// by the raw driver with insertMany in batches of 100 — no HTTP, no Redis, no per-request work.
// vendorfetch on MongoDB cannot beat it; the ingest bench prints the api's ratio to it.
// The ids are the api's own (UUIDv7, api/request-id.ts): with random v4 ids every insert lands
// on a random page of the _id index, and on FerretDB the "ceiling" then wrote ~40 % fewer
// documents per second than the api itself (3,795 vs 6,158 on 2026-11-30).
import { MongoClient } from 'mongodb';
import { newRequestId } from '../api/request-id.js';
import { createMongoJobStore } from '../core/store/index.js';
import { withCpuShare } from './support.js';

const BATCH = 100;
/** insertMany loops at once: enough to keep the server busy while a batch is on the wire. */
const WRITERS = 2;

export async function insertManyCeiling(url: string, dbName: string, payload: unknown, seconds: number, serverPid?: number): Promise<{ docs_per_s: number; server_cpu_share: number | undefined }> {
  // The store's own start-up creates the indexes: the ceiling pays for the same ones.
  await (await createMongoJobStore({ url, dbName })).close();
  const client = new MongoClient(url, { writeConcern: { w: 'majority' } });
  try {
    const jobs = client.db(dbName).collection<{ _id: string }>('jobs');
    const payloadJson = JSON.stringify(payload);
    const doc = () => {
      const id = newRequestId();
      const now = new Date();
      return { _id: id, vendor: 'bench', priority: 'normal', payload_json: payloadJson, status: 'pending', attempts: 0, idem: `r:${id}`, created_at: now, updated_at: now, deadline_at: new Date(now.getTime() + 600_000) };
    };
    const run = async (ms: number) => {
      let written = 0;
      const started = performance.now();
      const end = Date.now() + ms;
      const writer = async () => {
        while (Date.now() < end) {
          await jobs.insertMany(Array.from({ length: BATCH }, doc), { ordered: false });
          written += BATCH;
        }
      };
      await Promise.all(Array.from({ length: WRITERS }, writer));
      return written / ((performance.now() - started) / 1000);
    };
    await run(2000); // warm-up, as the HTTP loads get
    const { result, cpuShare } = await withCpuShare(serverPid, run(seconds * 1000));
    return { docs_per_s: result, server_cpu_share: cpuShare };
  } finally {
    await client.close();
  }
}

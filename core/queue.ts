// The job queue on Redis Streams: one stream per vendor, one consumer group ("workers").
// Entries carry only the request_id: the store is the source of truth for the job itself.
import type { Redis } from 'ioredis';
import { keys } from './keys.js';

/** Queue a job for its vendor's workers. Resolves with the stream entry id once Redis has it. */
export async function enqueue(redis: Redis, vendor: string, requestId: string): Promise<string> {
  const id = await redis.xadd(keys.stream(vendor), '*', 'id', requestId);
  if (id === null) throw new Error('XADD returned no id');
  return id;
}

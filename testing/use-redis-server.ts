// One private redis-server and one client for a test file: started before its tests, stopped
// after them. Replaces the same beforeAll/afterAll pair that stood in many files.
import { afterAll, beforeAll } from '@jest/globals';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from './redis-server.js';

/** Read inside tests and hooks (after beforeAll has started the server). */
export interface RedisFixture {
  readonly url: string;
  readonly port: number;
  /** A client on the server, disconnected after the file's tests. */
  readonly redis: Redis;
  /** The redis-server process, for tests that stop or kill it. */
  readonly process: RedisServer['process'];
}

export function useRedisServer(opts: { appendonly?: boolean } = {}): RedisFixture {
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  beforeAll(async () => {
    server = await startRedis(opts);
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useRedisServer(): read inside a test or hook, after beforeAll');
    return value;
  };
  return {
    get url() {
      return started(server).url;
    },
    get port() {
      return started(server).port;
    },
    get redis() {
      return started(redis);
    },
    get process() {
      return started(server).process;
    },
  };
}

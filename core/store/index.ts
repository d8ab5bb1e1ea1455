// Picks the job store: MongoDB when a URL is configured (production), else the embedded
// SQLite file (local mode, nothing to run besides Redis). Both factories connect and create
// their schema/indexes before resolving, so the first request pays no setup cost.

import type { JobStore } from '../job.js';
import type { Logger } from '../logger.js';
import { createMongoJobStore } from './mongo.js';
import { createSqliteJobStore } from './sqlite.js';

export { createMongoJobStore, dbNameFromUrl, usesNonAtomicUpdates, type MongoJobStoreOptions } from './mongo.js';
export { createSqliteJobStore, type SqliteJobStoreOptions } from './sqlite.js';

export interface JobStoreOptions {
  /** Set → MongoDB at this URL. Unset or empty → SQLite at `sqlitePath`. */
  mongodbUrl?: string | undefined;
  /** The SQLite file (main programs pass `.data/vendorfetch.db`); its folder is created. */
  sqlitePath: string;
  /** MongoDB only: TTL retention of finished jobs where the server supports it. */
  retentionSeconds?: number | undefined;
  logger?: Pick<Logger, 'warn' | 'info'> | undefined;
}

export function createJobStore(opts: JobStoreOptions): Promise<JobStore> {
  if (opts.mongodbUrl) {
    return createMongoJobStore({
      url: opts.mongodbUrl,
      ...(opts.retentionSeconds !== undefined ? { retentionSeconds: opts.retentionSeconds } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
  }
  return createSqliteJobStore({ path: opts.sqlitePath });
}

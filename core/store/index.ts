// Picks the job store: MongoDB when a URL is configured (production), else the embedded
// SQLite file (local mode, nothing to run besides Redis). Both factories connect and create
// their schema/indexes before resolving, so the first request pays no setup cost.

import { z } from 'zod';

import { blankToUndefined } from '../env.js';
import type { JobStore } from '../job.js';
import type { Logger } from '../logger.js';
import { createMongoJobStore, DEFAULT_INSERT_BATCH, type MongoWriteConcern } from './mongo.js';
import { createSqliteJobStore } from './sqlite.js';

export { createMongoJobStore, dbNameFromUrl, usesNonAtomicUpdates, type MongoJobStoreOptions, type MongoWriteConcern } from './mongo.js';
export { createSqliteJobStore, type SqliteJobStoreOptions } from './sqlite.js';

/**
 * VF_MONGODB_WRITE_CONCERN, for the programs' environment schemas: `majority` (default) or a
 * number of replica-set members ≥ 1 (see MongoJobStoreOptions.writeConcern). Unacknowledged
 * writes (0) are refused: a 202 must mean the job is stored.
 */
export const mongoWriteConcernEnv = z.preprocess(
  blankToUndefined,
  z
    .string()
    .trim()
    .regex(/^(majority|[1-9]\d*)$/, '"majority" or a number of members ≥ 1')
    .default('majority')
    .transform((s): MongoWriteConcern => (s === 'majority' ? 'majority' : Number(s))),
);

/** VF_MONGODB_INSERT_BATCH: most new jobs per insert command (group commit, default 100); 1 = one insert per job. */
export const mongoInsertBatchEnv = z.preprocess(blankToUndefined, z.coerce.number().int().min(1).max(1000).default(DEFAULT_INSERT_BATCH));

export interface JobStoreOptions {
  /** Set → MongoDB at this URL. Unset or empty → SQLite at `sqlitePath`. */
  mongodbUrl?: string | undefined;
  /** The SQLite file (main programs pass `.data/vendorfetch.db`); its folder is created. */
  sqlitePath: string;
  /** MongoDB only: TTL retention of finished jobs where the server supports it. */
  retentionSeconds?: number | undefined;
  /** MongoDB only: the write concern of every write. Default `majority`. */
  mongoWriteConcern?: MongoWriteConcern | undefined;
  /** MongoDB only: most new jobs per insert command (group commit). Default 100; 1 = one insert per job. */
  mongoInsertBatch?: number | undefined;
  logger?: Pick<Logger, 'warn' | 'info'> | undefined;
}

export function createJobStore(opts: JobStoreOptions): Promise<JobStore> {
  if (opts.mongodbUrl) {
    return createMongoJobStore({
      url: opts.mongodbUrl,
      ...(opts.retentionSeconds !== undefined ? { retentionSeconds: opts.retentionSeconds } : {}),
      ...(opts.mongoWriteConcern !== undefined ? { writeConcern: opts.mongoWriteConcern } : {}),
      ...(opts.mongoInsertBatch !== undefined ? { insertBatchMax: opts.mongoInsertBatch } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
  }
  return createSqliteJobStore({ path: opts.sqlitePath });
}

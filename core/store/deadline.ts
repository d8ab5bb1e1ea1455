// Per-operation deadlines of the MongoDB store (mongo.ts, operationTimeoutMs).
import type { DeleteOptions, InsertOneOptions, UpdateOptions } from 'mongodb';

/** Driver options that abort an operation when its deadline passes. */
export type Deadline = { signal: AbortSignal };

export const timeLimit = (ms: number): Deadline => ({ signal: AbortSignal.timeout(ms) });

/**
 * The driver honours `signal` in every operation — server selection, connection checkout, and
 * the command on the wire (its execute_operation.js, connection.js) — but its types name it only
 * for reads; this says so once instead of at each write.
 */
export const forWrite = (o: Deadline) => o as InsertOneOptions & UpdateOptions & DeleteOptions;

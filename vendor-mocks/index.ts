// The mock vendors as a library for tests, benchmarks and main.ts. Production code never
// imports this folder.
export { startSyncMock, type SyncMock, type SyncMockOptions } from './sync-mock.js';
export { startAsyncMock, type AsyncMock, type AsyncMockOptions } from './async-mock.js';
export type { RunningMock, MockRuntimeOptions } from './mock-server.js';
export type { Counters } from './counters.js';
export type { SyncKnobs, AsyncKnobs, SyncKnobsInput, AsyncKnobsInput } from './config.js';
export { SENSITIVE_VALUES, SENSITIVE_FIELDS, vendorData } from './fixture.js';
export { DEFAULT_WEBHOOK_SECRET, signWebhook } from './signing.js';

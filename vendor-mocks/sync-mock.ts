// The sync mock vendor: POST /fetch answers 200 with the vendor's data at once (after the knobs
// had their say). See README.md for knobs and counters.
import { mergeKnobs, parseKnobs, type SyncKnobs, type SyncKnobsInput, syncKnobsSchema } from './config.js';
import { emptyCounters } from './counters.js';
import { vendorData } from './fixture.js';
import { sendJson } from './http-util.js';
import { type MockRuntimeOptions, type RunningMock, startMockServer } from './mock-server.js';

export type SyncMockOptions = MockRuntimeOptions & SyncKnobsInput;
export type SyncMock = RunningMock<SyncKnobs>;

export async function startSyncMock(opts: SyncMockOptions = {}): Promise<SyncMock> {
  const { host, port, now, random, ...knobInput } = opts;
  const initialKnobs = parseKnobs(syncKnobsSchema, knobInput);
  return startMockServer<SyncKnobs, null>(
    {
      kind: 'sync',
      initialKnobs,
      merge: (current, update) => mergeKnobs(syncKnobsSchema, current, update),
      prepare: () => ({ ok: true, ctx: null }),
      answer: ({ body, key, res }) => sendJson(res, 200, vendorData(body, key)),
      counters: emptyCounters(),
    },
    { host, port, now, random },
  );
}

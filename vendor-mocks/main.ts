// Entry point of the mock vendors: sync on :9101 and async on :9102 by default.
// `node dist/vendor-mocks/main.js --help` lists flags and environment variables.
import { startAsyncMock } from './async-mock.js';
import { type RunningMock } from './mock-server.js';
import { parseMainConfig, USAGE } from './main-config.js';
import { startSyncMock } from './sync-mock.js';

async function main(): Promise<void> {
  const parsed = parseMainConfig(process.env, process.argv.slice(2));
  if (!parsed.ok) {
    for (const p of parsed.problems) console.error(`vendor-mocks: ${p}`);
    console.error(USAGE);
    process.exit(parsed.problems.length > 0 ? 1 : 0);
  }
  const cfg = parsed.config;
  const running: RunningMock<unknown>[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled(running.map((m) => m.close()));
  };

  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) process.exit(1); // second Ctrl-C: don't wait
    stopping = true;
    console.log(`vendor-mocks: ${sig}, closing`);
    void stopAll().then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    if (cfg.only !== 'async') {
      const m = await startSyncMock({ host: cfg.host, port: cfg.syncPort, ...cfg.syncKnobs });
      running.push(m as RunningMock<unknown>);
      console.log(`vendor-mocks: sync mock listening on ${m.url} (POST ${m.fetchUrl}, GET ${m.url}/_counters)`);
    }
    if (cfg.only !== 'sync') {
      const m = await startAsyncMock({
        host: cfg.host,
        port: cfg.asyncPort,
        webhookUrl: cfg.webhookUrl,
        webhookSecret: cfg.webhookSecret,
        ...cfg.asyncKnobs,
      });
      running.push(m as RunningMock<unknown>);
      console.log(`vendor-mocks: async mock listening on ${m.url} (POST ${m.fetchUrl}, webhooks to ${m.knobs().webhookUrl})`);
    }
  } catch (e) {
    console.error(`vendor-mocks: cannot start: ${e instanceof Error ? e.message : String(e)}`);
    await stopAll();
    process.exit(1);
  }
}

void main();

// `npm run loadtest`: the original brief's k6 scenario, without k6 (AGPL): 200 VUs ramped up
// over 30 s, then 60 s at full load; each VU loops 70 % POST /jobs and 30 % GET /jobs/{id} of
// its own jobs with 100 ms think time. Thresholds: p95 < 2 s and under 1 % failed requests.
// Prints a k6-style summary and exits 1 when a threshold fails (2 on bad options).
// Without --url it brings up the local system itself (bench/loadtest-system.ts).
import { parseArgs } from 'node:util';
import { parseMix, runLoad } from './loadtest-driver.js';
import { formatSummary, summarize } from './loadtest-stats.js';
import { startLocalSystem, type LocalSystem } from './loadtest-system.js';

const USAGE = `usage: npm run loadtest -- [options]
  --url URL          the api to load (default: start the local system on free ports)
  --vus N            virtual users at full load (default 200)
  --ramp S           seconds to ramp from 0 to N VUs (default 30)
  --duration S       seconds at full load after the ramp (default 60)
  --think MS         pause after each request (default 100)
  --mix LIST         vendor weights, e.g. sync=7,async=3 (default sync=1,async=1)
  --api-key KEY      bearer API key (default: $VF_LOADTEST_API_KEY, else none)
  --p95 MS           threshold on the p95 of all requests (default 2000)
  --max-errors R     threshold on the failed share (default 0.01)`;

function options() {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      vus: { type: 'string', default: '200' },
      ramp: { type: 'string', default: '30' },
      duration: { type: 'string', default: '60' },
      think: { type: 'string', default: '100' },
      mix: { type: 'string', default: 'sync=1,async=1' },
      'api-key': { type: 'string' },
      p95: { type: 'string', default: '2000' },
      'max-errors': { type: 'string', default: '0.01' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const num = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}, got "${v}"`);
    return n;
  };
  return {
    url: values.url,
    vus: Math.round(num('vus', values.vus, 1)),
    ramp: num('ramp', values.ramp, 0),
    duration: num('duration', values.duration, 1),
    think: num('think', values.think, 0),
    mix: parseMix(values.mix),
    apiKey: values['api-key'] ?? process.env['VF_LOADTEST_API_KEY'],
    thresholds: { p95Ms: num('p95', values.p95, 1), errorRate: num('max-errors', values['max-errors'], 0) },
  };
}

let opts: ReturnType<typeof options>;
try {
  opts = options();
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}

let system: LocalSystem | undefined;
let target = opts.url;
if (target === undefined) {
  console.log('starting the local system (redis, vendor mocks, api, local controller + workers) on free ports…');
  system = await startLocalSystem();
  target = system.url;
}
const stopSystem = async () => {
  await system?.stop();
  system = undefined;
};
process.once('SIGINT', () => void stopSystem().then(() => process.exit(130)));

let code = 0;
try {
  console.log(`load: ${opts.vus} VUs, ramp ${opts.ramp}s + ${opts.duration}s → ${target} (mix ${opts.mix.map((m) => `${m.vendor}=${m.weight}`).join(',')})`);
  const result = await runLoad({
    target,
    vus: opts.vus,
    rampSeconds: opts.ramp,
    durationSeconds: opts.duration,
    thinkMs: opts.think,
    mix: opts.mix,
    apiKey: opts.apiKey,
    onProgress: (p) => console.log(`  t=${p.at.toFixed(0)}s  vus=${p.vus}  requests=${p.requests}  failed=${p.failed}`),
  });
  const shape = { vus: opts.vus, rampSeconds: opts.ramp, durationSeconds: opts.duration, elapsedSeconds: result.elapsedSeconds };
  const summary = summarize(result.samples, shape, opts.thresholds);
  console.log(`\n${formatSummary(summary, shape, target)}`);
  const causes = Object.entries(result.failures);
  if (causes.length > 0) console.log(`  failures by cause: ${causes.map(([c, n]) => `${c} ×${n}`).join(', ')}`);
  code = summary.pass ? 0 : 1;
} catch (err) {
  console.error(err);
  code = 2;
} finally {
  await stopSystem();
}
process.exit(code);

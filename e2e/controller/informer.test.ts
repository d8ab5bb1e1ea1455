// The informer wrapper against the real API server: client-node's informer stops for good after
// a failed list; the wrapper restarts it with backoff, counts the restart, and the cache syncs
// and then follows changes.
import { pino } from 'pino';
import { paths, type VendorPoolObject } from '../../controller/api-types.js';
import { createResilientInformer } from '../../controller/informer.js';
import { createControllerMetrics } from '../../controller/metrics.js';
import { createNamespace, createPool, deleteNamespace, describeWithKube, until, vendor } from './support.js';

const { describe: d, env } = await describeWithKube();

d('resilient informer (real kube-apiserver)', () => {
  let ns = '';
  beforeAll(async () => {
    ns = await createNamespace(env!.kube, 'vf-informer');
  });
  afterAll(async () => {
    await deleteNamespace(env!.kube, ns);
  });

  test('restarts after failed lists, counts the restarts, then syncs and follows events', async () => {
    const metrics = createControllerMetrics();
    let failuresLeft = 2;
    const events: string[] = [];
    const informer = createResilientInformer<VendorPoolObject>({
      name: 'vendorpools',
      kc: env!.kc,
      path: paths.pools(ns),
      list: async () => {
        if (failuresLeft > 0) {
          failuresLeft--;
          throw new Error('injected list failure');
        }
        return env!.kube.request({ method: 'GET', path: paths.pools(ns) });
      },
      logger: pino({ level: 'silent' }),
      onEvent: (kind, p) => events.push(`${kind}:${p.metadata.name}`),
      onRestart: (name) => metrics.informerRestarts.inc({ informer: name }),
      initialBackoffMs: 50,
    });
    try {
      await informer.start();
      expect(informer.synced()).toBe(true);
      expect(failuresLeft).toBe(0);
      // One restart per injected failure at least; a loaded API server can end a fresh watch
      // too (seen once in CI: 3), and that restart is counted as well.
      const restarts = /vendorfetch_controller_informer_restarts_total\{informer="vendorpools"\} (\d+)/.exec(await metrics.registry.metrics())?.[1];
      expect(Number(restarts)).toBeGreaterThanOrEqual(2);
      await createPool(env!.kube, ns, 'watched', { vendors: [vendor('watched-vendor')] });
      await until('the add event', () => events.includes('add:watched'), 10_000);
      expect(informer.list().map((p) => p.metadata.name)).toEqual(['watched']);
    } finally {
      await informer.stop();
    }
  });
});

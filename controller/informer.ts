// An informer that does not stay dead. client-node's ListWatch relists on 410 and backs off on
// disconnects, but after any other error (a failed list, a refused connection, a 5xx) it calls
// the error callbacks and stops for good. This wrapper restarts it with exponential backoff and
// counts every restart, so a controller survives an API server restart or a network blip.
import { makeInformer, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../core/logger.js';

export interface ResilientInformerOptions<T> {
  name: string;
  kc: KubeConfig;
  /** Watch path, e.g. /apis/vendorfetch.io/v1alpha1/vendorpools. */
  path: string;
  list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
  labelSelector?: string;
  logger: Logger;
  onEvent: (kind: 'add' | 'update' | 'delete', obj: T) => void;
  onRestart?: (name: string) => void;
  /** First restart delay; doubles per failure in a row. Default 500 ms. */
  initialBackoffMs?: number;
  /** Default 30 000 ms. */
  maxBackoffMs?: number;
}

export interface ResilientInformer<T> {
  /** Start; resolves once the first list has been delivered (the cache is synced). */
  start(): Promise<void>;
  stop(): Promise<void>;
  list(): T[];
  get(name: string, namespace?: string): T | undefined;
  synced(): boolean;
}

// T is the object as the API server sends it (JSON: timestamps are strings), which is why it
// is not constrained to client-node's KubernetesObject (whose timestamps are Date).
export function createResilientInformer<T>(o: ResilientInformerOptions<T>): ResilientInformer<T> {
  const initial = o.initialBackoffMs ?? 500;
  const max = o.maxBackoffMs ?? 30_000;
  const informer = makeInformer<KubernetesObject>(o.kc, o.path, o.list as () => Promise<KubernetesListObject<KubernetesObject>>, o.labelSelector);
  const asT = (x: KubernetesObject) => x as unknown as T;
  const log = o.logger.child({ informer: o.name });
  let stopped = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let isSynced = false;
  let resolveSynced: (() => void) | undefined;
  const firstSync = new Promise<void>((r) => (resolveSynced = r));

  informer.on('add', (obj) => o.onEvent('add', asT(obj)));
  informer.on('update', (obj) => o.onEvent('update', asT(obj)));
  informer.on('delete', (obj) => o.onEvent('delete', asT(obj)));
  informer.on('connect', () => {
    // A (re)connect after a list: the cache holds a full view again.
    if (!isSynced) return;
    failures = 0;
  });
  informer.on('error', (err: unknown) => restartLater(err));

  function restartLater(err: unknown): void {
    if (stopped || timer) return;
    failures++;
    const delay = Math.min(max, initial * 2 ** (failures - 1));
    log.warn({ err: (err as Error | undefined)?.message ?? String(err), restartInMs: delay }, 'informer stopped after an error; restarting');
    timer = setTimeout(() => {
      timer = undefined;
      if (stopped) return;
      o.onRestart?.(o.name);
      void begin();
    }, delay);
  }

  async function begin(): Promise<void> {
    let failed = false;
    const onError = () => (failed = true);
    informer.on('error', onError);
    try {
      await informer.start();
    } catch (err) {
      failed = true;
      restartLater(err);
    } finally {
      informer.off('error', onError);
    }
    if (!failed && !stopped) {
      isSynced = true;
      resolveSynced?.();
    }
  }

  return {
    async start() {
      void begin();
      await firstSync;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      resolveSynced?.();
      await informer.stop();
    },
    list: () => informer.list().map(asT),
    get: (name, namespace) => {
      const x = informer.get(name, namespace);
      return x === undefined ? undefined : asT(x);
    },
    synced: () => isSynced,
  };
}

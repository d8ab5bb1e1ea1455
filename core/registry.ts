// The vendor registry: each vendor's parsed VendorSpec, published to Redis by whoever owns the
// VendorPools (the controller, or the local supervisor) and read by the api and the workers.
// Publishing is level-triggered: owners re-publish periodically, so a Redis that lost its data
// gets its registry back by itself. Readers reload on a pub/sub hint and also poll, because
// pub/sub messages are lost while a connection is down.
import type { Redis } from 'ioredis';
import { keys } from './keys.js';
import { registryPublishScript } from './scripts/registry-publish.js';
import { vendorSpecSchema, type VendorSpec } from './vendorpool.js';

export interface RegistryEntry {
  /** The owning pool, "namespace/name" (local mode: "local/<name>"). */
  pool: string;
  /** As published; `spec.paused` says whether workers call the vendor (what GET /vendors will show). */
  spec: VendorSpec;
}

export class VendorRegistry {
  constructor(private readonly redis: Redis) {}

  /**
   * Make the registry hold exactly `vendors` for `pool`: a vendor another pool owns is refused
   * (left as it is), and this pool's vendors not listed are removed. Returns the refused names.
   */
  async publish(pool: string, vendors: VendorSpec[]): Promise<string[]> {
    const args = vendors.flatMap((spec) => [spec.name, JSON.stringify({ pool, spec } satisfies RegistryEntry)]);
    const refused = await registryPublishScript(this.redis, [keys.registry], [pool, ...args]);
    await this.redis.publish(keys.registryChanged, pool);
    return refused;
  }

  /** Remove every vendor that `pool` owns. */
  async removePool(pool: string): Promise<void> {
    await this.publish(pool, []);
  }

  async get(vendor: string): Promise<RegistryEntry | null> {
    const raw = await this.redis.hget(keys.registry, vendor);
    return raw === null ? null : parseEntry(raw);
  }

  async all(): Promise<Map<string, RegistryEntry>> {
    const raw = await this.redis.hgetall(keys.registry);
    const out = new Map<string, RegistryEntry>();
    for (const [name, json] of Object.entries(raw)) {
      const entry = parseEntry(json);
      if (entry) out.set(name, entry);
    }
    return out;
  }
}

function parseEntry(json: string): RegistryEntry | null {
  try {
    const o = JSON.parse(json) as { pool?: unknown; spec?: unknown };
    const spec = vendorSpecSchema.safeParse(o.spec);
    return typeof o.pool === 'string' && spec.success ? { pool: o.pool, spec: spec.data } : null;
  } catch {
    return null;
  }
}

/**
 * An in-memory copy of the registry that follows changes: reloaded on every change hint and
 * every `pollMs`. `subscriber` must be a dedicated connection: it enters subscriber mode and
 * stop() closes it.
 */
export class RegistryView {
  private entries = new Map<string, RegistryEntry>();
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(entries: ReadonlyMap<string, RegistryEntry>) => void>();

  private readonly onError: (err: unknown) => void;

  /**
   * `pollMs`: reload period (default 2000). `opts.onError`: told about every failed reload —
   * the view keeps its last known vendors and tries again at the next hint or poll, so a
   * failure is not fatal, but it must be visible (default: a warning on stderr).
   */
  constructor(
    private readonly registry: VendorRegistry,
    private readonly subscriber: Redis,
    private readonly pollMs = 2000,
    opts: { onError?: (err: unknown) => void } = {},
  ) {
    this.onError = opts.onError ?? ((err) => console.warn('vendor registry: reload failed (keeping the last known vendors):', err));
  }

  async start(): Promise<void> {
    await this.reload();
    this.subscriber.on('message', () => void this.reload().catch(this.onError));
    await this.subscriber.subscribe(keys.registryChanged);
    this.timer = setInterval(() => void this.reload().catch(this.onError), this.pollMs);
    this.timer.unref();
  }

  get(vendor: string): RegistryEntry | undefined {
    return this.entries.get(vendor);
  }

  vendors(): ReadonlyMap<string, RegistryEntry> {
    return this.entries;
  }

  /** Called after every reload that changed something. */
  onChange(listener: (entries: ReadonlyMap<string, RegistryEntry>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async reload(): Promise<void> {
    const next = await this.registry.all();
    const changed =
      next.size !== this.entries.size ||
      [...next].some(([k, v]) => JSON.stringify(this.entries.get(k)) !== JSON.stringify(v));
    this.entries = next;
    if (changed) for (const l of this.listeners) l(next);
  }

  /** Stops polling and closes the dedicated subscriber connection (without waiting on Redis). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.subscriber.disconnect();
  }
}

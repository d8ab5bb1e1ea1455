// GET /vendors (admin key only; app.ts mounts adminGuard on /vendors): every vendor of the
// registry with its quota use, breaker state, stream lag and pending (summed over its priority
// lanes) and paused flag (spec.paused) (core/vendor-status.ts).
// The vendor list is read from Redis, not from the api's in-memory view: an operator asking
// "what is there now" wants the registry as it is, not as of the last reload.
import { Router } from 'express';
import { unavailable } from '../core/errors.js';
import { VendorRegistry } from '../core/registry.js';
import { vendorStatus, type VendorStatus } from '../core/vendor-status.js';
import type { ApiDeps } from './deps.js';

export interface VendorsAnswer {
  vendors: VendorStatus[];
}

export function vendorStatusRouter(deps: ApiDeps): Router {
  const { redis } = deps;
  const registry = new VendorRegistry(redis);
  const router = Router();

  router.get('/vendors', async (_req, res) => {
    let vendors: VendorStatus[];
    try {
      const entries = [...(await registry.all())].sort(([a], [b]) => a.localeCompare(b));
      vendors = await Promise.all(entries.map(([name, entry]) => vendorStatus(redis, name, entry)));
    } catch (e) {
      throw unavailable('Redis', e);
    }
    const answer: VendorsAnswer = { vendors };
    res.json(answer);
  });

  return router;
}

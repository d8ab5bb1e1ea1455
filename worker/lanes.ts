// Which priority lane a consumer reads next: a pure, stateful picker, so the weighting is
// unit-tested without Redis (docs/adr/0008-priority-lanes.md). Smooth weighted round robin
// (nginx's): each pick adds every lane's weight to its credit, takes the lane with the most
// credit and charges it the total. With weights 6:3:1 every 10 picks give exactly 6 high,
// 3 normal and 1 low, spread out (H N H L H N H H N H …) rather than in runs, so low is served
// at least once every 10 reads while all lanes have work, and high never waits behind a run.
import type { Priority } from '../core/job.js';
import { LANES } from '../core/queue.js';

/** Read weights per lane when all lanes have work. Shares: high 60 %, normal 30 %, low 10 %. */
export const LANE_WEIGHTS: Readonly<Record<Priority, number>> = { high: 6, normal: 3, low: 1 };

export interface LanePicker {
  /**
   * How many of `count` slots go to each lane, among the lanes not known to be empty
   * (`skip`); the picker's credit carries over from call to call, so the shares hold even
   * when every read is for one slot.
   */
  plan(count: number, skip?: ReadonlySet<Priority>): Map<Priority, number>;
}

export function createLanePicker(weights: Readonly<Record<Priority, number>> = LANE_WEIGHTS): LanePicker {
  const credit = new Map<Priority, number>(LANES.map((l) => [l, 0]));
  return {
    plan(count, skip = new Set()) {
      const out = new Map<Priority, number>();
      const lanes = LANES.filter((l) => !skip.has(l) && weights[l] > 0);
      if (lanes.length === 0) return out;
      const total = lanes.reduce((n, l) => n + weights[l], 0);
      for (let i = 0; i < count; i++) {
        let best = lanes[0]!;
        for (const l of lanes) {
          credit.set(l, credit.get(l)! + weights[l]);
          if (credit.get(l)! > credit.get(best)!) best = l;
        }
        credit.set(best, credit.get(best)! - total);
        out.set(best, (out.get(best) ?? 0) + 1);
      }
      return out;
    },
  };
}

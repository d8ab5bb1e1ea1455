// The quota gate's timing estimates (quota.ts), kept apart so they are tested without Redis:
// where a Redis stamp falls on this process' clock, when a settled call reached the vendor at
// the latest, and how long a waiter sleeps before asking again. Times are this process'
// performance.now() (ms) unless a name ends in Us (Redis TIME, µs). Why the gate corrects its
// log at all: docs/adr/0002-hand-written-quota-gate.md.
import type { CallTiming } from './quota.js';

/** A script's answer: Redis read `nowUs` while the call was out, between `sentAt` and `recvAt`. */
export interface ScriptTime {
  sentAt: number;
  recvAt: number;
  nowUs: number;
}

/** The earliest moment a Redis stamp can be on this clock (Redis read its time after sentAt). */
export function earliestLocal(at: ScriptTime, stampUs: number): number {
  return at.sentAt + (stampUs - at.nowUs) / 1000;
}

/**
 * How long from `now` until a stamp has surely come on this clock (Redis read its time before
 * recvAt): a reserved slot is handed over then, never before its stamp.
 */
export function untilStampMs(at: ScriptTime, stampUs: number, now: number): number {
  return at.recvAt + (stampUs - at.nowUs) / 1000 - now;
}

// When a vendor's answer floor is trusted (see RoundTrips.answerFloorMs).
const MIN_RTT_SAMPLES = 8;
const STABLE_FLOOR_SAMPLES = 3;
const STABLE_FLOOR_MS = 2;

/** A vendor's recent round trips, a ring of `size` (at least 8). */
export class RoundTrips {
  private readonly samples: number[] = [];
  private next = 0;
  private readonly size: number;

  constructor(size: number) {
    this.size = Math.max(MIN_RTT_SAMPLES, size);
  }

  /** Keeps the round trip of a call the vendor answered, counted from when it reached the socket if known. */
  record(timing: CallTiming): void {
    if (!timing.answered) return;
    this.samples[this.next] = timing.endedAt - (timing.wireAt ?? timing.sentAt);
    this.next = (this.next + 1) % this.size;
  }

  /**
   * The least time the vendor needs between receiving a call and its answer reaching us: the
   * fastest recent round trip, less 1 ms for the request's own way there. Trusted only when
   * settled: at least 8 round trips, and 3 of them within 2 ms of the fastest. A floor taken
   * from a few first calls, or from a vendor still warming up (a fresh process answered its
   * first calls 40 ms slower in the e2e), would be too high, i.e. unsafe. Until then: 0 (each
   * call is corrected by its whole round trip). Plain loops, no arrays: this runs once per call.
   */
  answerFloorMs(): number {
    if (this.samples.length < MIN_RTT_SAMPLES) return 0;
    let fastest = Number.POSITIVE_INFINITY;
    for (const r of this.samples) if (r < fastest) fastest = r;
    let near = 0;
    for (const r of this.samples) if (r <= fastest + STABLE_FLOOR_MS) near++;
    if (near < STABLE_FLOOR_SAMPLES) return 0;
    return Math.max(0, fastest - 1);
  }
}

/**
 * Where a settled call's log entry should move, or undefined when it stays at its stamp. The
 * vendor received the call at the latest `answerFloorMs` before its answer arrived; within the
 * margin of the stamp's earliest local time the log is right, beyond it the entry moves to that
 * latest arrival less the margin.
 */
export function settledEntryAt(endedAt: number, answerFloorMs: number, stampEarliestLocal: number, marginMs: number): number | undefined {
  const receivedBy = endedAt - answerFloorMs;
  return receivedBy - stampEarliestLocal <= marginMs ? undefined : receivedBy - marginMs;
}

// A settle back-date far enough that the entry stays at its stamp (a day, in µs).
const NOT_MOVED_US = 86_400_000_000;

/**
 * What vfQuotaSettle takes for a called grant: how long before `sentAt` (when the settle goes
 * out; Redis reads its now after that, the safe side) the entry should sit, in µs.
 */
export function settleBackdateUs(entryAt: number | undefined, sentAt: number): number {
  return entryAt === undefined ? NOT_MOVED_US : Math.round(Math.max(0, (sentAt - entryAt) * 1000));
}

/**
 * How long a pump whose batch was not all granted sleeps before asking again: until the next
 * slot is free, less the reservation horizon for a rate slot (it is granted that much ahead),
 * plus `jitterMs` so that waiting processes do not all ask at once; a waiter blocked by
 * maxInFlight sleeps at most `recheckMs` (a release message may be lost).
 */
export function nextAskMs(
  reply: { waitUs: number; why: string },
  opts: { reserveAheadUs: number; recheckMs: number },
  jitterMs: number,
): number {
  const aheadUs = reply.why === 'rate' ? opts.reserveAheadUs : 0;
  const waitMs = Math.ceil(Math.max(0, reply.waitUs - aheadUs) / 1000) + jitterMs;
  return reply.why === 'inflight' ? Math.min(waitMs, opts.recheckMs) : waitMs;
}

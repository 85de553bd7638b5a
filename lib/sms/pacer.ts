import { AsyncLocalStorage } from 'node:async_hooks';
import { smsSegments } from './segments';

/**
 * Segment pacing for one Twilio sender (worker/sms-worker.ts). The SMS worker runs each activity
 * inside `withSegmentPacer`; the activity calls `paceSegments(body)` right before it calls Twilio.
 * Outside a paced worker (tests calling the activity directly) pacing is a no-op.
 */

/**
 * A segment pacer without burst: each send may start 1/R seconds per segment of the previous
 * send after it, never earlier. `take(n)` resolves when this send's n segments may go.
 */
export class SegmentPacer {
  private nextFreeMs = 0;

  constructor(
    private readonly segmentsPerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(Number.isFinite(segmentsPerSecond) && segmentsPerSecond > 0)) {
      throw new Error('segmentsPerSecond must be a positive number');
    }
  }

  /** The delay (ms) before `segments` may go, reserving them; the caller waits it out. */
  reserve(segments: number): number {
    const now = this.now();
    const start = Math.max(now, this.nextFreeMs);
    this.nextFreeMs = start + (Math.max(1, segments) * 1000) / this.segmentsPerSecond;
    return start - now;
  }

  async take(segments: number): Promise<void> {
    const wait = this.reserve(segments);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

const current = new AsyncLocalStorage<SegmentPacer>();

/** Run `fn` (one SMS activity) with `pacer` as the sender's pacer. */
export function withSegmentPacer<T>(pacer: SegmentPacer, fn: () => Promise<T>): Promise<T> {
  return current.run(pacer, fn);
}

/** Wait for this body's segments on the current sender's pacer, if there is one. */
export async function paceSegments(body: string): Promise<void> {
  await current.getStore()?.take(smsSegments(body).segments);
}

import { AsyncLocalStorage } from 'node:async_hooks';
import { smsSegments } from './segments';

/**
 * Segment pacing for one Twilio sender (worker/sms-worker.ts). The SMS worker runs each activity
 * inside `withSegmentPacer`; the activity calls `paceSegments(body)` right before it calls Twilio.
 * Outside a paced worker (tests calling the activity directly) pacing is a no-op.
 *
 * Staff SMS pages (activities/staff-sms-page.ts) go from the practice's sender too, so they take
 * their segments from the same pacer (`senderPacer`), as urgent: a page takes the next free slot
 * ahead of every patient text waiting in the pacer. A page never waits behind the patient backlog
 * either way: that backlog queues in Temporal, on the sender's SMS task queue, and the page runs on
 * the main queue. So a page waits at most for the slot in progress (one body's segments / R) plus
 * other urgent pages, and patient texts after it move back by the page's segments: the sender's
 * segment rate holds with pages included.
 */

/**
 * A segment pacer without burst: each send may start 1/R seconds per segment of the previous
 * send after it, never earlier. `take(n)` resolves when this send's n segments may go; waiting
 * sends are served in order, urgent ones first.
 */
export class SegmentPacer {
  private nextFreeMs = 0;
  private readonly urgent: Waiter[] = [];
  private readonly normal: Waiter[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly segmentsPerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(Number.isFinite(segmentsPerSecond) && segmentsPerSecond > 0)) {
      throw new Error('segmentsPerSecond must be a positive number');
    }
  }

  /** The delay (ms) before `segments` may go, reserving them now; the caller waits it out. */
  reserve(segments: number): number {
    const now = this.now();
    const start = Math.max(now, this.nextFreeMs);
    this.nextFreeMs = start + (Math.max(1, segments) * 1000) / this.segmentsPerSecond;
    return start - now;
  }

  /** Resolves when `segments` may go. `urgent` (a staff page) is served before every waiting send. */
  take(segments: number, options: { urgent?: boolean } = {}): Promise<void> {
    return new Promise((resolve) => {
      (options.urgent === true ? this.urgent : this.normal).push({ segments, resolve });
      this.grant();
    });
  }

  /** Sends waiting for a slot (for tests and diagnostics). */
  waiting(): number {
    return this.urgent.length + this.normal.length;
  }

  private grant(): void {
    if (this.timer !== undefined) return;
    for (;;) {
      const queue = this.urgent.length > 0 ? this.urgent : this.normal;
      const next = queue[0];
      if (next === undefined) return;
      const wait = Math.max(0, this.nextFreeMs - this.now());
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.grant();
        }, wait);
        return;
      }
      queue.shift();
      this.reserve(next.segments);
      next.resolve();
    }
  }
}

interface Waiter {
  segments: number;
  resolve: () => void;
}

/**
 * The process's pacer of one sender at one rate, shared by its SMS worker and by staff SMS pages
 * from it. Pacing holds per process: worker/main.ts runs the main worker and every SMS worker in one.
 */
export function senderPacer(senderId: string, segmentsPerSecond: number): SegmentPacer {
  const key = `${senderId}@${segmentsPerSecond}`;
  let pacer = senderPacers.get(key);
  if (pacer === undefined) {
    pacer = new SegmentPacer(segmentsPerSecond);
    senderPacers.set(key, pacer);
  }
  return pacer;
}
const senderPacers = new Map<string, SegmentPacer>();

const current = new AsyncLocalStorage<SegmentPacer>();

/** Run `fn` (one SMS activity) with `pacer` as the sender's pacer. */
export function withSegmentPacer<T>(pacer: SegmentPacer, fn: () => Promise<T>): Promise<T> {
  return current.run(pacer, fn);
}

/** Wait for this body's segments on the current sender's pacer, if there is one. */
export async function paceSegments(body: string): Promise<void> {
  await current.getStore()?.take(smsSegments(body).segments);
}

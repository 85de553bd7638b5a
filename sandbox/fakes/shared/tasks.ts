/**
 * Background work a fake does after answering (callbacks, webhook retries, queued sends), tracked so
 * a test can wait for quiet with `idle()` and `close()` can cancel whatever is still scheduled.
 */
export class TaskTracker {
  private pending = 0;
  private waiters: (() => void)[] = [];
  /** Scheduled sleeps and how to wake each one early. */
  private timers = new Map<NodeJS.Timeout, (completed: boolean) => void>();
  private closed = false;

  get isClosed(): boolean {
    return this.closed;
  }

  /** Track a promise; its rejection is reported, never thrown into the void. */
  track(name: string, work: Promise<unknown>): void {
    this.pending += 1;
    work
      .catch((error: unknown) => {
        if (!this.closed) console.error(`[fake] background task ${name} failed:`, error);
      })
      .finally(() => {
        this.pending -= 1;
        if (this.pending === 0) for (const resolve of this.waiters.splice(0)) resolve();
      });
  }

  /** A delay that `close()` cuts short (resolving false), so shutdown never waits on a timer. */
  sleep(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => {
          this.timers.delete(timer);
          resolve(true);
        },
        Math.max(0, ms),
      );
      this.timers.set(timer, resolve);
    });
  }

  /** Resolves when no tracked work is left (immediately if none). */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    for (const [timer, wake] of this.timers) {
      clearTimeout(timer);
      wake(false);
    }
    this.timers.clear();
  }
}

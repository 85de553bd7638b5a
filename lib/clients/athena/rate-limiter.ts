/**
 * Client-side token bucket. athena publishes no rate-limit headers for v1, and its limit is per app
 * (5 req/s in preview, more in production by agreement), so the client paces itself instead of learning
 * the limit from 429s.
 *
 * Callers reserve a token and sleep until it is theirs: the bucket may go negative, and a reservation
 * made while it is at -n waits (n + 1) / rate seconds. That keeps concurrent callers in arrival order
 * without a queue.
 */
export class TokenBucket {
  private tokens: number;
  private lastRefillMs: number;

  /**
   * @param ratePerSecond sustained requests per second.
   * @param burst how many requests may go at once after a quiet period (defaults to one second's worth).
   */
  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number = Math.max(1, Math.floor(ratePerSecond)),
    private readonly now: () => number = Date.now,
  ) {
    if (!(ratePerSecond > 0)) throw new Error('requestsPerSecond must be a positive number');
    this.tokens = this.burst;
    this.lastRefillMs = this.now();
  }

  /** Resolves when the caller may send one request. */
  async take(): Promise<void> {
    const waitMs = this.reserve();
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
  }

  /** Reserves one token and returns how long the caller must wait for it. */
  reserve(): number {
    const nowMs = this.now();
    const elapsedSeconds = Math.max(0, nowMs - this.lastRefillMs) / 1000;
    this.tokens = Math.min(this.burst, this.tokens + elapsedSeconds * this.ratePerSecond);
    this.lastRefillMs = nowMs;
    this.tokens -= 1;
    if (this.tokens >= 0) return 0;
    return Math.ceil((-this.tokens / this.ratePerSecond) * 1000);
  }
}

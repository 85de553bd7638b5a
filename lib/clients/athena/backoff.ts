/**
 * Retry timing for athena calls: exponential backoff with full jitter (delay drawn uniformly from
 * [0, min(cap, base * 2^(retry-1))]), which spreads a burst of throttled clients apart instead of
 * having them retry in lock-step.
 */

/** First backoff ceiling. */
export const RETRY_BASE_DELAY_MS = 250;
/** No single wait is longer than this, however many retries have happened. */
export const RETRY_MAX_DELAY_MS = 8_000;
/**
 * Attempts per call, the first included. With 5 attempts the 4 waits have ceilings 250 + 500 + 1000 +
 * 2000 ms, so a call gives up after at most 3.75 s of sleeping (1.9 s on average with full jitter) plus
 * 5 request timeouts; the 8 s cap is reached only if maxAttempts is raised to 7 or more. Longer outages
 * are the caller's (Temporal activity retry) business, not a blocked request's.
 */
export const DEFAULT_MAX_ATTEMPTS = 5;
/**
 * athena documents no Retry-After for v1, but a gateway may send one. Up to this long we honour it
 * in-process; a longer request turns into a `retryable` error carrying the wait, so an activity does not
 * sit idle past its own timeout.
 */
export const MAX_RETRY_AFTER_MS = 30_000;

export interface BackoffPolicy {
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Full-jitter delay before retry number `retry` (1 = the first retry). */
export function backoffDelayMs(retry: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.max(0, retry - 1);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  return Math.floor(random() * ceiling);
}

/**
 * `Retry-After` as milliseconds from now: delta-seconds or an HTTP-date (RFC 9110 §10.2.3). Returns
 * undefined for a missing or unreadable header, so the caller falls back to its own backoff.
 */
export function parseRetryAfterMs(header: string | null | undefined, nowMs: number): number | undefined {
  if (header === null || header === undefined) return undefined;
  const text = header.trim();
  if (text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

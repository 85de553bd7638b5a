/**
 * The OAuth access token for one athena app (client credentials). One token serves every practice and
 * every request, so it is fetched once, shared, and refreshed shortly before it expires.
 */

/** Used when athena's token response has no `expires_in` (its TTL is not documented; public clients assume an hour). */
export const DEFAULT_TOKEN_TTL_SECONDS = 3600;
/**
 * Refresh this long before expiry, so a request never leaves with a token that dies in flight (the same
 * minute a production Go client subtracts "to resolve intermittent 401s"). For tokens shorter than two
 * minutes the margin is half the lifetime instead, so a short-lived token is still reused.
 */
export const TOKEN_REFRESH_MARGIN_MS = 60_000;

export interface TokenGrant {
  accessToken: string;
  expiresInSeconds: number;
}

export class TokenCache {
  private current: { value: string; refreshAtMs: number } | undefined;
  private inflight: Promise<string> | undefined;

  constructor(
    private readonly fetchGrant: () => Promise<TokenGrant>,
    private readonly now: () => number,
  ) {}

  /** A usable token. Concurrent callers during a refresh share one token request (single flight). */
  get(): Promise<string> {
    if (this.current !== undefined && this.now() < this.current.refreshAtMs) return Promise.resolve(this.current.value);
    this.inflight ??= this.refresh().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /**
   * Drop `value` after athena refused it. Only that token: when several requests fail with the same old
   * token, the first one's refresh is not thrown away by the others.
   */
  invalidate(value: string): void {
    if (this.current?.value === value) this.current = undefined;
  }

  private async refresh(): Promise<string> {
    // Measured from before the request, so network time only ever makes the refresh earlier.
    const requestedAtMs = this.now();
    const grant = await this.fetchGrant();
    const lifetimeMs = grant.expiresInSeconds * 1000;
    const marginMs = Math.min(TOKEN_REFRESH_MARGIN_MS, lifetimeMs / 2);
    this.current = { value: grant.accessToken, refreshAtMs: requestedAtMs + lifetimeMs - marginMs };
    return grant.accessToken;
  }
}

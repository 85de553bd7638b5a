import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * Who may scrape `/metrics`. The figures carry no PHI, but they say how busy a practice is and how
 * its channels fail, so they are not public: a scraper presents an operator token
 * (LABLOOP_METRICS_TOKENS, `Authorization: Bearer <token>`), or scrapes a listener bound to an
 * internal interface only (loopback or a private address), which only the private network reaches.
 * Tokens are compared as SHA-256 digests with timingSafeEqual against every configured token, as
 * the machine tokens are (api/auth/machine-token.ts).
 */

/** The scraper's token name, or undefined when the header carries no configured token. */
export function createScrapeTokenCheck(tokens: ReadonlyMap<string, string>) {
  const digests = [...tokens.entries()].map(([token, name]) => ({ digest: sha256(token), name }));
  return function scraperOf(authorization: string | string[] | undefined): string | undefined {
    const match = typeof authorization === 'string' ? /^Bearer\s+(\S+)$/i.exec(authorization) : null;
    if (match?.[1] === undefined) return undefined;
    const presented = sha256(match[1]);
    let name: string | undefined;
    for (const candidate of digests) if (timingSafeEqual(candidate.digest, presented)) name = candidate.name;
    return name;
  };
}

/**
 * Whether a bind address is an internal interface: loopback (127.0.0.0/8, ::1, `localhost`), or a
 * private range (10/8, 172.16/12, 192.168/16, fc00::/7). Every interface (0.0.0.0, ::) and host
 * names are not: they may face the internet.
 */
export function isInternalBindAddress(host: string): boolean {
  if (host === 'localhost') return true;
  const family = isIP(host);
  if (family === 4) {
    const [a = 0, b = 0] = host.split('.').map(Number);
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }
  if (family === 6) {
    const lower = host.toLowerCase();
    return lower === '::1' || /^f[cd][0-9a-f]{2}:/.test(lower);
  }
  return false;
}

/** What a refused scrape is told: how to get in, never which token was wrong. */
export const SCRAPE_REFUSED_MESSAGE =
  'metrics need an operator token (Authorization: Bearer <token> from LABLOOP_METRICS_TOKENS) or a listener bound to an internal interface';

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

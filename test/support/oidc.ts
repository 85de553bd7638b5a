import { randomBytes } from 'node:crypto';
import {
  sandboxAccounts,
  startOidcProvider,
  type LocalOidcProvider,
  type OidcAccount,
} from '../../sandbox/oidc-provider';
import type { PracticeRegistry } from '../../lib/practices';

/**
 * The local identity provider for tests (sandbox/oidc-provider.ts) with a client registered for the
 * review app, and a plain-HTTP walk through the whole SSO sign-in for tests that need a signed-in
 * session without a browser (the browser tests do it for real in Chromium).
 */

export interface TestOidc {
  provider: LocalOidcProvider;
  issuer: string;
  clientId: string;
  clientSecret: string;
  close(): Promise<void>;
}

export async function startTestOidc(options: {
  redirectUri: string;
  practices?: PracticeRegistry;
  accounts?: OidcAccount[];
}): Promise<TestOidc> {
  const clientId = `labloop-review-${randomBytes(3).toString('hex')}`;
  const clientSecret = randomBytes(24).toString('hex');
  const accounts = [
    ...(options.practices === undefined ? [] : sandboxAccounts(options.practices)),
    ...(options.accounts ?? []),
  ];
  const provider = await startOidcProvider({
    clients: [{ clientId, clientSecret, redirectUris: [options.redirectUri] }],
    accounts,
  });
  return { provider, issuer: provider.issuer, clientId, clientSecret, close: () => provider.close() };
}

/** A minimal cookie jar keyed by origin (enough for loopback servers: no domains, no paths beyond /). */
export class CookieJar {
  private readonly byOrigin = new Map<string, Map<string, string>>();

  store(url: string, response: Response): void {
    const origin = new URL(url).origin;
    const jar = this.byOrigin.get(origin) ?? new Map<string, string>();
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const i = pair.indexOf('=');
      if (i <= 0) continue;
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const expired = /max-age=0/i.test(line) || /expires=Thu, 01 Jan 1970/i.test(line);
      if (expired || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    this.byOrigin.set(origin, jar);
  }

  header(url: string): string {
    const jar = this.byOrigin.get(new URL(url).origin);
    return jar === undefined ? '' : [...jar.entries()].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  get(url: string, name: string): string | undefined {
    return this.byOrigin.get(new URL(url).origin)?.get(name);
  }

  set(url: string, name: string, value: string): void {
    const origin = new URL(url).origin;
    const jar = this.byOrigin.get(origin) ?? new Map<string, string>();
    jar.set(name, value);
    this.byOrigin.set(origin, jar);
  }
}

/** fetch with the jar's cookies, no automatic redirects. */
export async function jarFetch(jar: CookieJar, url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const cookie = jar.header(url);
  if (cookie !== '') headers.set('cookie', cookie);
  const response = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(url, response);
  return response;
}

/** Follow redirects by hand (so every hop's cookies land in the jar); returns the last response. */
export async function followRedirects(
  jar: CookieJar,
  url: string,
  init: RequestInit = {},
  maxHops = 10,
): Promise<{ response: Response; url: string }> {
  let current = url;
  let response = await jarFetch(jar, current, init);
  for (let hop = 0; hop < maxHops && response.status >= 300 && response.status < 400; hop += 1) {
    const location = response.headers.get('location');
    if (location === null) break;
    current = new URL(location, current).toString();
    response = await jarFetch(jar, current);
  }
  return { response, url: current };
}

/**
 * Signs in to the review app at `appUrl` through SSO, exactly as a browser would (minus rendering):
 * start → IdP authorize → IdP sign-in form → callback. Returns the final page and the jar holding
 * the session cookie.
 */
export async function signInOverHttp(
  appUrl: string,
  login: string,
  password: string,
  jar = new CookieJar(),
): Promise<{ jar: CookieJar; response: Response; url: string; body: string }> {
  const toIdp = await followRedirects(jar, `${appUrl}/review/auth/sso?next=%2Freview%2Fqueue`);
  const form = await toIdp.response.text();
  const action = /action="([^"]+)"/.exec(form)?.[1];
  if (toIdp.response.status !== 200 || action === undefined) {
    throw new Error(`expected the identity provider's sign-in form, got ${toIdp.response.status} at ${toIdp.url}`);
  }
  const submitted = await followRedirects(jar, new URL(action, toIdp.url).toString(), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ login, password }).toString(),
  });
  return { jar, response: submitted.response, url: submitted.url, body: await submitted.response.text() };
}

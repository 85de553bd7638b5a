import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { SESSION_ABSOLUTE_LIFETIME_MS } from '../../api/auth/session';
import { sha256Hex } from '../../api/auth/session-store';
import { reviewApiDeps } from '../../api/review/settings';
import { ConfigError, loadConfig } from '../../lib/config';
import { freePort } from '../../sandbox/servers/free-port';
import { loadPracticeRegistry } from '../../lib/practices';
import { testApiDeps } from '../support/api-app';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { CookieJar, jarFetch, signInOverHttp, startTestOidc, type TestOidc } from '../support/oidc';

/**
 * The review app's sign-in, sessions, CSRF and roles, over real HTTP: the API (as built for
 * production) on a loopback port, PostgreSQL for sessions, and the local OpenID Connect provider.
 * The clock the sessions see is the test's, so idle and absolute timeouts are exercised without waiting.
 */

const practices = loadPracticeRegistry('config/practices.sandbox.json');
const PASSWORD = 'sandbox';
const PROVIDER = 'avery.chen@riverside.example';
const STAFF = 'morgan.lee@riverside.example';
const ADMIN = 'casey.brooks@riverside.example';
const SESSION_SECRET = 'review-auth-test-session-secret-0123456789';

/** The env a production deployment would give the API (plus what the test servers need). */
function configEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'test',
    LABLOOP_CODEC_KEYS: 'k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
    LABLOOP_ID_SECRET: 'id-secret-5f0c1a9e7b3d2c4f6a8e0b1d3f5a7c9e',
    PUBLIC_BASE_URL: 'http://127.0.0.1:3000',
    LABLOOP_API_TOKENS: 'a:b0123456789-7d1f3b5a9c2e4f6a8b0d1c3e5f',
    TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
    TWILIO_AUTH_TOKEN: 'twilio-token-0123456789',
    TWILIO_FROM_NUMBER: '+15005550006',
    SPRUCE_API_TOKEN: 'spruce-token',
    SPRUCE_WEBHOOK_SECRET: 'spruce-secret-0123456789',
    ATHENA_CLIENT_ID: 'athena',
    ATHENA_CLIENT_SECRET: 'athena-secret',
    ATHENA_WEBHOOK_SECRET: 'athena-webhook-0123456789',
    ...overrides,
  };
}

describe('review app sign-in, sessions, CSRF and roles', () => {
  let db: TestDatabase;
  let oidc: TestOidc;
  let app: FastifyInstance;
  let base: string;
  let clock = Date.now();

  before(async () => {
    db = await createTestDatabase('review_auth');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    oidc = await startTestOidc({
      redirectUri: `${base}/review/auth/callback`,
      practices,
      accounts: [
        // A real IdP account that is nobody's staff member, and one whose email is unverified.
        {
          subject: 'outsider',
          logins: ['outsider@example.org'],
          password: PASSWORD,
          email: 'outsider@example.org',
          emailVerified: true,
          name: 'Outsider',
        },
        {
          subject: 'unverified',
          logins: ['unverified'],
          password: PASSWORD,
          email: PROVIDER,
          emailVerified: false,
          name: 'Unverified',
        },
      ],
    });
    const config = loadConfig(
      configEnv({
        PUBLIC_BASE_URL: base,
        OIDC_ISSUER_URL: oidc.issuer,
        OIDC_CLIENT_ID: oidc.clientId,
        OIDC_CLIENT_SECRET: oidc.clientSecret,
        SESSION_SECRET,
        SESSION_IDLE_MINUTES: '15',
      }),
    );
    const now = () => new Date(clock);
    const deps = testApiDeps({
      pool: db.pool,
      practices,
      publicBaseUrl: base,
      now,
      ...reviewApiDeps(config, { pool: db.pool, practices, now }),
    });
    ({ app } = await buildApp(deps));
    await app.listen({ host: '127.0.0.1', port });
  });

  after(async () => {
    await app?.close();
    await oidc?.close();
    await db?.close();
  });

  const sessionCookieOf = (jar: CookieJar) => jar.get(base, 'labloop_session');
  const csrfFrom = (html: string) => {
    const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
    assert.ok(token !== undefined, 'the page carries a CSRF token');
    return token;
  };
  const postForm = (jar: CookieJar, path: string, fields: Record<string, string>) =>
    jarFetch(jar, `${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });

  it('signs a provider in through SSO with PKCE and lands on their queue, with a hashed server-side session', async () => {
    const { jar, response, url, body } = await signInOverHttp(base, PROVIDER, PASSWORD);
    assert.equal(response.status, 200, body.slice(0, 300));
    assert.equal(new URL(url).pathname, '/review/queue');
    assert.match(body, /Signed in as <strong>Dr\. Avery Chen<\/strong> \(Provider\)/);
    const id = sessionCookieOf(jar);
    assert.ok(id !== undefined && id.length >= 43, 'an opaque 256-bit session ID');
    const { rows } = await db.pool.query<{
      id_sha256: string;
      staff_id: string;
      auth_method: string;
      oidc_subject: string;
    }>(`SELECT id_sha256, staff_id, auth_method, oidc_subject FROM web_session`);
    const row = rows.find((r) => r.id_sha256 === sha256Hex(id));
    assert.ok(row !== undefined, 'the session is stored under the SHA-256 of the cookie, not the cookie itself');
    assert.ok(!rows.some((r) => r.id_sha256 === id));
    assert.equal(row.staff_id, 'prov-1');
    assert.equal(row.auth_method, 'oidc');
    assert.equal(row.oidc_subject, 'sandbox-195900-prov-1');
    assert.equal(
      (await db.pool.query(`SELECT 1 FROM web_login_attempt`)).rowCount,
      0,
      'the sign-in attempt was used up',
    );
  });

  it('sets the session cookie HttpOnly and SameSite=Lax, and marks pages no-store with a self-only CSP', async () => {
    const jar = new CookieJar();
    const start = await jarFetch(jar, `${base}/review/auth/sso`);
    assert.equal(start.status, 303);
    const loginCookie = start.headers.getSetCookie().find((c) => c.startsWith('labloop_login='));
    assert.ok(loginCookie !== undefined);
    assert.match(loginCookie, /HttpOnly/i);
    assert.match(loginCookie, /SameSite=Lax/i);
    const authorize = new URL(start.headers.get('location') ?? '');
    assert.equal(authorize.origin, oidc.issuer);
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    assert.ok((authorize.searchParams.get('state') ?? '').length >= 32);
    assert.ok((authorize.searchParams.get('nonce') ?? '').length >= 32);

    const page = await fetch(`${base}/review/login`);
    assert.equal(page.headers.get('cache-control'), 'no-store');
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  });

  it('refuses a callback that this browser did not start, and a replayed one', async () => {
    const victim = new CookieJar();
    const { jar: attacker } = await signInOverHttp(base, PROVIDER, PASSWORD);
    // Capture a valid callback URL by stopping before the app consumes it.
    const jar = new CookieJar();
    let location = (await jarFetch(jar, `${base}/review/auth/sso`)).headers.get('location') ?? '';
    for (let hop = 0; hop < 6 && !location.startsWith(`${base}/review/auth/callback`); hop += 1) {
      const response = await jarFetch(jar, new URL(location, oidc.issuer).toString());
      if (response.status === 200) {
        const action = /action="([^"]+)"/.exec(await response.text())?.[1] ?? '';
        const posted = await jarFetch(jar, new URL(action, oidc.issuer).toString(), {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ login: PROVIDER, password: PASSWORD }).toString(),
        });
        location = posted.headers.get('location') ?? '';
      } else {
        location = response.headers.get('location') ?? '';
      }
    }
    assert.ok(location.startsWith(`${base}/review/auth/callback?`), `reached the callback (${location})`);

    const foreign = await jarFetch(victim, location);
    assert.equal(foreign.status, 400, 'no login cookie: this browser did not start the sign-in');
    assert.match(await foreign.text(), /could not be matched to one started in this browser/);
    assert.equal(sessionCookieOf(victim), undefined);

    const own = await jarFetch(jar, location);
    assert.equal(own.status, 303);
    assert.ok(sessionCookieOf(jar) !== undefined);
    jar.set(base, 'labloop_login', 'replayed');
    const replay = await jarFetch(jar, location);
    assert.equal(replay.status, 400, 'the attempt is single use');
    assert.ok(sessionCookieOf(attacker) !== sessionCookieOf(jar));
  });

  it('refuses a callback whose state was tampered with', async () => {
    const jar = new CookieJar();
    const start = await jarFetch(jar, `${base}/review/auth/sso`);
    const authorize = new URL(start.headers.get('location') ?? '');
    const forged = new URL(`${base}/review/auth/callback`);
    forged.searchParams.set('code', 'not-a-real-code');
    forged.searchParams.set('state', `${authorize.searchParams.get('state') ?? ''}x`);
    forged.searchParams.set('iss', oidc.issuer);
    const response = await jarFetch(jar, forged.toString());
    assert.equal(response.status, 400);
    assert.match(await response.text(), /could not be verified/);
    assert.equal(sessionCookieOf(jar), undefined);
  });

  it('refuses an IdP account that is no staff member, and an unverified email', async () => {
    for (const login of ['outsider@example.org', 'unverified']) {
      const { response, body, jar } = await signInOverHttp(base, login, PASSWORD);
      assert.equal(response.status, 403, login);
      assert.match(body, /not set up as staff of a practice here/);
      assert.equal(sessionCookieOf(jar), undefined);
    }
  });

  it('ends a session after 15 idle minutes, keeps an active one, and ends any session after the absolute limit', async () => {
    const { jar } = await signInOverHttp(base, PROVIDER, PASSWORD);
    const start = clock;
    try {
      // Active every 10 minutes: still signed in after 40 minutes.
      for (let i = 1; i <= 4; i += 1) {
        clock = start + i * 10 * 60_000;
        const page = await jarFetch(jar, `${base}/review/queue`);
        assert.equal(page.status, 200, `request ${i}`);
      }
      // 16 idle minutes: expired, told so, and the row is gone.
      clock += 16 * 60_000;
      const expired = await jarFetch(jar, `${base}/review/queue`);
      assert.equal(expired.status, 303);
      assert.match(expired.headers.get('location') ?? '', /\/review\/login\?next=%2Freview%2Fqueue&expired=1/);
      const id = sessionCookieOf(jar);
      assert.equal(id, undefined, 'the expired cookie is cleared');
      const login = await jarFetch(jar, `${base}${expired.headers.get('location') ?? ''}`);
      assert.match(await login.text(), /signed out after 15 minutes without activity/);

      // Absolute limit: a session used every 10 minutes still ends 12 hours after sign-in.
      const { jar: busy } = await signInOverHttp(base, PROVIDER, PASSWORD);
      const signedInAt = clock;
      let last = 200;
      for (
        let t = signedInAt + 10 * 60_000;
        t < signedInAt + SESSION_ABSOLUTE_LIFETIME_MS + 20 * 60_000;
        t += 10 * 60_000
      ) {
        clock = t;
        last = (await jarFetch(busy, `${base}/review/queue`)).status;
        if (last !== 200) {
          assert.ok(t - signedInAt >= SESSION_ABSOLUTE_LIFETIME_MS, 'not before the absolute limit');
          break;
        }
      }
      assert.equal(last, 303, 'ended at the absolute limit');
    } finally {
      clock = Date.now();
    }
  });

  it('logs out with a POST carrying the CSRF token, and the old cookie is worthless afterwards', async () => {
    const { jar, body } = await signInOverHttp(base, PROVIDER, PASSWORD);
    const id = sessionCookieOf(jar) ?? '';
    const noToken = await postForm(jar, '/review/logout', {});
    assert.equal(noToken.status, 403, 'a logout without a token is refused (a foreign page cannot sign people out)');
    assert.equal((await jarFetch(jar, `${base}/review/queue`)).status, 200);

    const out = await postForm(jar, '/review/logout', { _csrf: csrfFrom(body) });
    assert.equal(out.status, 303);
    assert.equal(out.headers.get('location'), '/review/login?signedOut=1');
    assert.equal((await db.pool.query(`SELECT 1 FROM web_session WHERE id_sha256 = $1`, [sha256Hex(id)])).rowCount, 0);
    const stale = new CookieJar();
    stale.set(base, 'labloop_session', id);
    const again = await jarFetch(stale, `${base}/review/queue`);
    assert.equal(again.status, 303);
    assert.match(again.headers.get('location') ?? '', /^\/review\/login/);
  });

  it("refuses a form without a CSRF token, and with another session's token", async () => {
    const provider = await signInOverHttp(base, PROVIDER, PASSWORD);
    const other = await signInOverHttp(base, 'jordan.patel@riverside.example', PASSWORD);
    const path = '/review/results/lab-result-195900-0123456789abcdef0123/sign';
    const missing = await postForm(provider.jar, path, {});
    assert.equal(missing.status, 403);
    assert.match(await missing.text(), /out of date for security reasons/);
    const foreign = await postForm(provider.jar, path, { _csrf: csrfFrom(other.body) });
    assert.equal(foreign.status, 403, 'a token bound to another session does not pass');
    const viaHeader = await jarFetch(provider.jar, `${base}${path}`, {
      method: 'POST',
      headers: {
        'hx-request': 'true',
        'x-csrf-token': csrfFrom(other.body),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: '',
    });
    assert.equal(viaHeader.status, 403);
    assert.equal(viaHeader.headers.get('hx-retarget'), '#flash', 'htmx gets the refusal in the flash region');
    // A session's own token passes the check (here on the call-task form: the task does not exist).
    const staff = await signInOverHttp(base, STAFF, PASSWORD);
    const own = await postForm(staff.jar, '/review/calls/ct_0123456789abcdef01234567/complete', {
      _csrf: csrfFrom(staff.body),
      outcome: 'reached',
    });
    assert.equal(own.status, 404);
    assert.match(await own.text(), /no such call task in your practice/);
  });

  it('enforces roles on the server: staff cannot sign, providers cannot see call tasks, only administrators export', async () => {
    const staff = await signInOverHttp(base, STAFF, PASSWORD);
    const refused = await postForm(staff.jar, '/review/results/lab-result-195900-0123456789abcdef0123/sign', {
      _csrf: csrfFrom(staff.body),
    });
    assert.equal(refused.status, 403);
    assert.match(await refused.text(), /Your role \(staff\) cannot sign results; only provider can\./);
    assert.equal((await jarFetch(staff.jar, `${base}/review/calls`)).status, 200);
    assert.equal((await jarFetch(staff.jar, `${base}/review/audit`)).status, 403);

    const provider = await signInOverHttp(base, PROVIDER, PASSWORD);
    const calls = await jarFetch(provider.jar, `${base}/review/calls`);
    assert.equal(calls.status, 403);
    assert.match(await calls.text(), /cannot see call tasks/);

    const admin = await signInOverHttp(base, ADMIN, PASSWORD);
    const audit = await jarFetch(admin.jar, `${base}/review/audit`);
    assert.equal(audit.status, 200);
    assert.match(await audit.text(), /action="\/v1\/audit\/export"/);
    // The audit export recognises the administrator's review-app session (ApiDeps.staffSession).
    const exported = await jarFetch(
      admin.jar,
      `${base}/v1/audit/export?format=csv&from=2026-01-01&to=2026-01-02&practiceId=195900`,
    );
    assert.notEqual(exported.status, 401);
    const notAdmin = await jarFetch(provider.jar, `${base}/v1/audit/export?format=csv&from=2026-01-01&to=2026-01-02`);
    assert.equal(notAdmin.status, 403);
  });

  it('sends anonymous visitors to sign in and back, never to another site', async () => {
    const anonymous = await fetch(`${base}/review/queue?scope=practice`, { redirect: 'manual' });
    assert.equal(anonymous.status, 303);
    assert.equal(anonymous.headers.get('location'), '/review/login?next=%2Freview%2Fqueue%3Fscope%3Dpractice');
    const jar = new CookieJar();
    const start = await jarFetch(jar, `${base}/review/auth/sso?next=${encodeURIComponent('https://evil.example/x')}`);
    assert.equal(start.status, 303);
    const { rows } = await db.pool.query<{ return_to: string }>(
      `SELECT return_to FROM web_login_attempt ORDER BY created_at DESC LIMIT 1`,
    );
    assert.equal(rows[0]?.return_to, '/review/queue');
    const demo = await postForm(jar, '/review/auth/demo', { staff: '195900/prov-1' });
    assert.equal(demo.status, 404, 'no demo sign-in unless it is enabled');
  });
});

describe('review app configuration', () => {
  it('says what to configure when no sign-in method is set', async () => {
    const { app } = await buildApp(testApiDeps({ practices }));
    try {
      const response = await app.inject({ method: 'GET', url: '/review/queue' });
      assert.equal(response.statusCode, 503);
      assert.match(response.body, /set OIDC_ISSUER_URL, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and SESSION_SECRET/);
      assert.equal(
        reviewApiDeps(loadConfig(configEnv({})), { pool: testApiDeps().pool, practices, now: () => new Date() }).review,
        undefined,
      );
    } finally {
      await app.close();
    }
  });

  it('refuses the demo sign-in in production and names the setting', () => {
    assert.throws(
      () =>
        loadConfig(
          configEnv({
            NODE_ENV: 'production',
            DATABASE_URL: 'postgres://x/y',
            LABLOOP_DEMO_LOGIN: 'true',
            SESSION_SECRET,
          }),
        ),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.some((p) => p.startsWith('LABLOOP_DEMO_LOGIN: must not be enabled in production')),
    );
  });

  it('requires the client credentials and a session secret with an issuer, and https in production', () => {
    assert.throws(
      () => loadConfig(configEnv({ OIDC_ISSUER_URL: 'https://idp.example.org' })),
      (err: unknown) =>
        err instanceof ConfigError &&
        ['OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET', 'SESSION_SECRET'].every((name) =>
          err.problems.some((p) => p.startsWith(`${name}:`)),
        ),
    );
    assert.throws(
      () =>
        loadConfig(
          configEnv({
            NODE_ENV: 'production',
            DATABASE_URL: 'postgres://x/y',
            OIDC_ISSUER_URL: 'http://idp.example.org',
            OIDC_CLIENT_ID: 'c',
            OIDC_CLIENT_SECRET: 'client-secret-0123456789',
            SESSION_SECRET,
          }),
        ),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.some((p) => p.startsWith('OIDC_ISSUER_URL: must be an https:// URL')),
    );
    // The demo sign-in needs NODE_ENV=development said explicitly; `test` (or unset) refuses it.
    assert.throws(
      () => loadConfig(configEnv({ LABLOOP_DEMO_LOGIN: 'true', SESSION_SECRET })),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.some((p) => p.startsWith('LABLOOP_DEMO_LOGIN: needs NODE_ENV=development set explicitly')),
    );
    const demo = loadConfig(configEnv({ NODE_ENV: 'development', LABLOOP_DEMO_LOGIN: 'true', SESSION_SECRET }));
    assert.equal(demo.LABLOOP_DEMO_LOGIN, true);
    assert.equal(demo.SESSION_IDLE_MINUTES, 15, 'idle timeout defaults to 15 minutes');
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { loadPracticeRegistry } from '../../lib/practices';
import type { ResultDetail, SignOffRequest, SignOffResult } from '../../workflows/definitions';
import { resultDetail } from '../../workflows/view';
import { testApiDeps } from '../support/api-app';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { CookieJar, jarFetch } from '../support/oidc';
import { normalResult, testPolicy } from '../workflows/support/fixtures';
import { Simulator } from '../workflows/support/simulator';

/**
 * The review app's sign-off names the version the provider saw: both sign forms carry it, a post
 * without it is refused with a 400 that says so (nothing reaches the workflow), and the version is
 * handed to the workflow's update exactly as the page sent it (the workflow decides whether it is
 * still current), by the plain-form path and by htmx alike.
 */

const NOW = new Date('2026-11-24T15:00:00Z');

/** A result as the workflow's query answers it: the decision core after the first version, at `version`. */
function detailAt(version: number): ResultDetail {
  const sim = new Simulator({
    result: normalResult(),
    policy: testPolicy(),
    startMs: NOW.getTime(),
    smsConsent: true,
    spruceSecure: true,
    prior: { lastVersion: version - 1 },
  });
  sim.complete(0, 'ok');
  return resultDetail(sim.model, sim.ctx);
}

describe('review app: the sign-off carries the version the page showed', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  let base: string;
  let detail: ResultDetail;
  const updates: SignOffRequest[] = [];
  // A Temporal client that answers the result query and records each sign-off update.
  const real = testApiDeps().temporal;
  const temporal = {
    // The codec endpoint reads the client's converter and namespace at build time.
    options: real.options,
    connection: real.connection,
    withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn(),
    workflow: {
      getHandle: () => ({
        query: () => Promise.resolve(detail),
        executeUpdate: (_update: unknown, options: { args: [SignOffRequest] }): Promise<SignOffResult> => {
          updates.push(options.args[0]);
          return Promise.resolve({
            state: 'notifying',
            alreadySigned: false,
            signedBy: options.args[0].providerId,
            signedAt: NOW.toISOString(),
          });
        },
        describe: () => Promise.resolve({}),
      }),
    },
  } as unknown as Client;

  before(async () => {
    db = await createTestDatabase('review_sign_version');
    const deps = testApiDeps({
      pool: db.pool,
      temporal,
      practices: loadPracticeRegistry('config/practices.sandbox.json'),
      now: () => NOW,
      review: {
        sessionSecret: 'sign-version-session-secret-0123456789',
        idleMinutes: 15,
        secureCookies: false,
        demoLogin: true,
      },
    });
    ({ app } = await buildApp(deps));
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await app?.close();
    await db?.close();
  });

  async function providerSession(): Promise<CookieJar> {
    const jar = new CookieJar();
    const html = await (await jarFetch(jar, `${base}/review/login`)).text();
    const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
    const signedIn = await jarFetch(jar, `${base}/review/auth/demo`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: token, staff: '195900/prov-1', next: '/review/queue' }).toString(),
    });
    assert.equal(signedIn.status, 303);
    return jar;
  }

  async function openPage(jar: CookieJar): Promise<{ html: string; csrf: string; path: string }> {
    const path = `/review/results/${detail.view.workflowId}`;
    const page = await jarFetch(jar, `${base}${path}`);
    assert.equal(page.status, 200);
    const html = await page.text();
    return { html, csrf: /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '', path };
  }

  async function post(jar: CookieJar, path: string, form: Record<string, string>, htmx = false): Promise<Response> {
    return jarFetch(jar, `${base}${path}/sign`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(htmx ? { 'hx-request': 'true' } : {}),
      },
      body: new URLSearchParams(form).toString(),
    });
  }

  it('renders the shown version in both sign forms', async () => {
    detail = detailAt(3);
    assert.equal(detail.view.version, 3);
    const { html } = await openPage(await providerSession());
    const forms = [...html.matchAll(/<form method="post" action="[^"]+\/sign"[\s\S]*?<\/form>/g)].map((m) => m[0]);
    assert.equal(forms.length, 2, 'Sign, and Sign with a note');
    for (const form of forms) assert.match(form, /<input type="hidden" name="version" value="3">/);
  });

  it('refuses a sign-off without a version (400, saying what is missing) and sends nothing to the workflow', async () => {
    detail = detailAt(1);
    const jar = await providerSession();
    const { csrf, path } = await openPage(jar);
    updates.length = 0;
    const forms: Record<string, string>[] = [
      { _csrf: csrf },
      { _csrf: csrf, version: '' },
      { _csrf: csrf, version: 'latest' },
    ];
    for (const form of forms) {
      const refused = await post(jar, path, form);
      assert.equal(refused.status, 400, JSON.stringify(form));
      assert.match(await refused.text(), /version (is required|must be the whole number)/);
    }
    const viaHtmx = await post(jar, path, { _csrf: csrf }, true);
    assert.equal(viaHtmx.status, 400);
    assert.match(await viaHtmx.text(), /version is required: the version of the result the page showed/);
    assert.deepEqual(updates, [], 'nothing reached the workflow');
  });

  it('hands the shown version to the workflow unchanged, by the plain form (303) and by htmx', async () => {
    detail = detailAt(2);
    const jar = await providerSession();
    const { csrf, path } = await openPage(jar);
    updates.length = 0;
    const plain = await post(jar, path, { _csrf: csrf, version: '2' });
    assert.equal(plain.status, 303, 'no JavaScript: back to the page with a notice');
    assert.match(plain.headers.get('location') ?? '', /\?notice=signed$/);
    const htmx = await post(jar, path, { _csrf: csrf, version: '2', note: 'See you soon.' }, true);
    assert.equal(htmx.status, 200);
    // A page rendered before the workflow took in its first message shows version 0: passed as is.
    const early = await post(jar, path, { _csrf: csrf, version: '0' });
    assert.equal(early.status, 303);
    assert.deepEqual(
      updates.map((u) => [u.expectedVersion, u.via, u.providerId, u.noteToPatient]),
      [
        [2, 'review-app', 'prov-1', undefined],
        [2, 'review-app', 'prov-1', 'See you soon.'],
        [0, 'review-app', 'prov-1', undefined],
      ],
    );
  });

  it('answers a page older than the current version with 409 before asking the workflow', async () => {
    detail = detailAt(3);
    const jar = await providerSession();
    const { csrf, path } = await openPage(jar);
    updates.length = 0;
    const stale = await post(jar, path, { _csrf: csrf, version: '2' });
    assert.equal(stale.status, 409);
    assert.match(await stale.text(), /updated \(version 3\) after you opened it/);
    assert.deepEqual(updates, []);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildApp } from '../../api/app';
import type { TrustProxy } from '../../lib/config';
import { testApiDeps } from '../support/api-app';

/**
 * Behind a load balancer every request comes from the balancer's address, so without TRUST_PROXY
 * the rate limiter would throttle all clients together. With it, the client named in
 * X-Forwarded-For is the one counted; without it the header is ignored (a client cannot pick its
 * own key). `app.inject` connects from 127.0.0.1, which plays the load balancer here.
 */
const PROBE = { method: 'GET' as const, url: '/v1/results/lab-result-195900-0123456789abcdef0123456789abcdef' };
const BUDGET = 2;

async function statusesFor(trustProxy: TrustProxy | undefined, clients: string[]): Promise<number[]> {
  const { app } = await buildApp(testApiDeps({ rateLimit: { max: BUDGET, timeWindowMs: 60_000 }, trustProxy }));
  try {
    const statuses: number[] = [];
    for (const client of clients) {
      statuses.push((await app.inject({ ...PROBE, headers: { 'x-forwarded-for': client } })).statusCode);
    }
    return statuses;
  } finally {
    await app.close();
  }
}

// Two requests from client A use up its budget; the third comes from client B.
const A_A_B = ['203.0.113.1', '203.0.113.1', '203.0.113.2'];

describe('TRUST_PROXY: the rate limit counts per client behind a load balancer', () => {
  it('by default ignores X-Forwarded-For: everyone behind one address shares a budget', async () => {
    const statuses = await statusesFor(undefined, A_A_B);
    assert.equal(statuses[2], 429, statuses.join(','));
  });

  it('with a hop count, counts the client the nearest proxy names', async () => {
    const statuses = await statusesFor(1, [...A_A_B, '203.0.113.1']);
    assert.notEqual(statuses[2], 429, `client B has its own budget: ${statuses.join(',')}`);
    assert.equal(statuses[3], 429, `client A is still over its budget: ${statuses.join(',')}`);
  });

  it('with a hop count, a client cannot escape its budget by prepending addresses of its own', async () => {
    // The proxy appends the peer it saw; whatever the client wrote before that is not trusted.
    const spoofed = ['198.51.100.7, 203.0.113.1', '198.51.100.8, 203.0.113.1', '198.51.100.9, 203.0.113.1'];
    const statuses = await statusesFor(1, spoofed);
    assert.equal(statuses[2], 429, statuses.join(','));
  });

  it('with the proxies listed by CIDR, believes only them', async () => {
    const trusted = await statusesFor(['127.0.0.0/8'], A_A_B);
    assert.notEqual(trusted[2], 429, `the load balancer at 127.0.0.1 is trusted: ${trusted.join(',')}`);
    const untrusted = await statusesFor(['10.0.0.0/8'], A_A_B);
    assert.equal(untrusted[2], 429, `a peer outside the list is the client itself: ${untrusted.join(',')}`);
  });
});

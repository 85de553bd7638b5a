import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { describeOutcome, evaluateAudit, loadAllowList, type AllowList } from '../../scripts/dependency-audit';

/**
 * How `npm audit --omit=dev --json` output is judged (the live run is test/static/dependency-audit.test.ts):
 * an advisory not named by an unexpired allow-list entry fails, and output that is not an audit report
 * (the registry unreachable, the advisory endpoint refusing) fails loudly instead of passing.
 */

const TODAY = '2026-12-08';
const GHSA = 'GHSA-mg8j-w93w-xjgc';

function report(vulnerabilities: Record<string, unknown>, total = Object.keys(vulnerabilities).length): string {
  return JSON.stringify({
    auditReportVersion: 2,
    vulnerabilities,
    metadata: {
      vulnerabilities: { info: 0, low: 0, moderate: total, high: 0, critical: 0, total },
      dependencies: { prod: 180, dev: 400, optional: 0, peer: 0, peerOptional: 0, total: 580 },
    },
  });
}

const FASTIFY_ADVISORY = {
  fastify: {
    name: 'fastify',
    severity: 'moderate',
    isDirect: true,
    via: [
      {
        source: 1104413,
        name: 'fastify',
        dependency: 'fastify',
        title: 'Content-Type header tab character allows body validation bypass',
        url: `https://github.com/advisories/${GHSA}`,
        severity: 'moderate',
        range: '<5.3.2',
      },
    ],
    effects: ['fastify-type-provider-zod'],
    range: '<5.3.2',
    nodes: ['node_modules/fastify'],
    fixAvailable: true,
  },
  'fastify-type-provider-zod': {
    name: 'fastify-type-provider-zod',
    severity: 'moderate',
    isDirect: true,
    via: ['fastify'],
    effects: [],
    range: '*',
    nodes: ['node_modules/fastify-type-provider-zod'],
    fixAvailable: true,
  },
};

const allowing = (expires: string): AllowList => ({
  advisories: [
    {
      id: GHSA,
      package: 'fastify',
      reason: 'Only reachable with a custom content-type parser, which labloop does not register (test case).',
      expires,
    },
  ],
});

void describe('dependency audit judgement', () => {
  void it('a report without advisories is clean', () => {
    const outcome = evaluateAudit(report({}), { advisories: [] }, TODAY);
    assert.equal(outcome.kind, 'clean');
  });

  void it('an advisory the allow-list does not name fails, naming the advisory and the package', () => {
    const outcome = evaluateAudit(report(FASTIFY_ADVISORY), { advisories: [] }, TODAY);
    assert.equal(outcome.kind, 'unexplained');
    assert.ok(outcome.kind === 'unexplained');
    // Reported once, at the package that has it, not again for what depends on it.
    assert.deepEqual(
      outcome.unexplained.map((a) => [a.id, a.package]),
      [[GHSA, 'fastify']],
    );
    assert.match(describeOutcome(outcome), new RegExp(`${GHSA} fastify \\(moderate\\)`));
  });

  void it('an allow-list entry accepts its advisory until it expires', () => {
    const accepted = evaluateAudit(report(FASTIFY_ADVISORY), allowing('2027-01-31'), TODAY);
    assert.equal(accepted.kind, 'clean');
    assert.ok(accepted.kind === 'clean');
    assert.deepEqual(
      accepted.accepted.map((a) => a.id),
      [GHSA],
    );
    const expired = evaluateAudit(report(FASTIFY_ADVISORY), allowing('2026-12-01'), TODAY);
    assert.equal(expired.kind, 'unexplained');
    assert.match(
      describeOutcome(expired),
      /expired allow-list entries: GHSA-mg8j-w93w-xjgc \(fastify, expired 2026-12-01\)/,
    );
  });

  void it('an entry for the same advisory in another package does not accept it', () => {
    const other = allowing('2027-01-31');
    other.advisories[0].package = 'light-my-request';
    assert.equal(evaluateAudit(report(FASTIFY_ADVISORY), other, TODAY).kind, 'unexplained');
  });

  void it('a registry that refuses the advisory endpoint outright is "refused", never "clean"', () => {
    // What this machine's registry answers today.
    const output = JSON.stringify({
      message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
      statusCode: 405,
      error: { summary: '', detail: '' },
    });
    const outcome = evaluateAudit(output, { advisories: [] }, TODAY);
    assert.equal(outcome.kind, 'refused', output);
    assert.match(describeOutcome(outcome), /^DEPENDENCY AUDIT NOT POSSIBLE against this registry: .*405/);
    // A server error is no refusal of the endpoint: it is an audit that did not run.
    const serverError = JSON.stringify({ message: '503 Service Unavailable', statusCode: 503 });
    assert.equal(evaluateAudit(serverError, { advisories: [] }, TODAY).kind, 'unavailable');
  });

  void it('fails loudly when the advisory database does not answer: never a pass', () => {
    const refusals = [
      JSON.stringify({
        message: 'request to https://registry.npmjs.org/ failed, reason: getaddrinfo ENOTFOUND',
        error: {},
      }),
      '',
      'npm audit could not run: spawnSync npm ENOENT',
      JSON.stringify({ auditReportVersion: 1 }),
    ];
    for (const output of refusals) {
      const outcome = evaluateAudit(output, { advisories: [] }, TODAY);
      assert.equal(outcome.kind, 'unavailable', output);
      assert.match(describeOutcome(outcome), /^DEPENDENCY AUDIT DID NOT RUN, so it fails/);
    }
    // Counted but unnamed vulnerabilities are not "clean" either.
    assert.equal(evaluateAudit(report({}, 3), { advisories: [] }, TODAY).kind, 'unavailable');
  });

  void it('the committed allow-list is valid; an entry without a reason, a GHSA ID or an expiry is refused', () => {
    assert.ok(Array.isArray(loadAllowList().advisories));
    const dir = mkdtempSync(path.join(tmpdir(), 'labloop-allowlist-'));
    try {
      const bad = [
        [{ id: GHSA, package: 'fastify', reason: 'ok', expires: '2027-01-01' }, /reason: must explain/],
        [
          { id: 'CVE-2025-1234', package: 'fastify', reason: 'x'.repeat(40), expires: '2027-01-01' },
          /id: must be a GHSA ID/,
        ],
        [{ id: GHSA, package: 'fastify', reason: 'x'.repeat(40) }, /expires/],
      ] as const;
      for (const [entry, problem] of bad) {
        const file = path.join(dir, 'allowlist.json');
        writeFileSync(file, JSON.stringify({ advisories: [entry] }));
        assert.throws(() => loadAllowList(file), problem);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PriorRunSummary } from '../../domain/activity-contract';
import { createPriorRunActivities } from '../../activities/prior-runs';
import type { LabResult } from '../../domain/lab-result';
import { createAuditLog, type AuditLog } from '../../lib/audit';
import { contentDigest } from '../../workflows/content-digest';
import { contentKey } from '../../workflows/intake';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { normalResult, testPolicy } from '../workflows/support/fixtures';
import { Simulator } from '../workflows/support/simulator';

/**
 * findPriorRuns against real PostgreSQL: a run of the decision core (the workflow's own audit
 * commands, appended to the real audit log, and its sends in the outbox) is read back the way a new
 * run of the same workflow ID reads it, and that answer drives the new run: same values are a
 * re-delivery, new values a correction, another patient a mismatch.
 */

const DAY_MS = 24 * 60 * 60_000;
const START = Date.parse('2026-03-03T15:00:00Z'); // Tuesday 10:00 in New York

/** Run one result through the core until its correction window closed it; its audit and outbox go to `db`. */
async function runToClose(db: TestDatabase, audit: AuditLog, result: LabResult, prior: PriorRunSummary) {
  const sim = new Simulator({
    result,
    policy: testPolicy(),
    startMs: START,
    smsConsent: true,
    spruceSecure: true,
    prior,
  });
  sim.complete(0, 'ok'); // the earlier-run lookup
  sim.signOff('prov-1');
  sim.drain(12);
  assert.equal(sim.model.closed, true, 'the correction window closed the run');
  for (const { command } of sim.issued) {
    if (command.type === 'audit') await audit.append(command.event);
    if (command.type === 'sendSms' || command.type === 'postPortal' || command.type === 'sendSpruce') {
      const { workflowId, resultVersion, step } = command.request;
      const channel = command.type === 'sendSms' ? 'sms' : command.type === 'postPortal' ? 'portal' : 'spruce';
      const template = command.type === 'sendSms' ? command.request.template : channel;
      await db.pool.query(
        `INSERT INTO outbox (idempotency_key, workflow_id, result_version, step, channel, practice_id, patient_id, template, status)
         VALUES ($1, $2, $3, $4, $5, '195900', 'MRN-500', $6, 'sent') ON CONFLICT DO NOTHING`,
        [`${workflowId}:v${resultVersion}:${step}`, workflowId, resultVersion, step, channel, template],
      );
    }
  }
  return sim;
}

describe('findPriorRuns reads what the earlier run ended with (PostgreSQL)', () => {
  let db: TestDatabase;
  let audit: AuditLog;
  let findPriorRuns: (input: { workflowId: string }) => Promise<PriorRunSummary>;
  let first: Simulator;
  const v1 = normalResult();

  before(async () => {
    db = await createTestDatabase('prior_runs');
    audit = createAuditLog(db.pool);
    ({ findPriorRuns } = createPriorRunActivities({ pool: db.pool }));
    first = await runToClose(db, audit, v1, { lastVersion: 0 });
  });
  after(async () => {
    await db?.close();
  });

  it("answers with the versions used, what the patient was told, and the closing row's digest, status and patient", async () => {
    const summary = await findPriorRuns({ workflowId: first.ctx.workflowId });
    assert.deepEqual(summary, {
      lastVersion: 1,
      patientNotifiedVersion: 1,
      lastContentDigest: contentDigest(first.ctx.workflowId, contentKey(v1)),
      lastStatus: 'final',
      patientId: 'MRN-500',
    });
    const { rows } = await db.pool.query<{ details: Record<string, unknown> }>(
      `SELECT details FROM audit_log WHERE workflow_id = $1 AND action = 'routing-decision' AND outcome = 'closed'`,
      [first.ctx.workflowId],
    );
    assert.equal(rows.length, 1, 'one closing row');
    assert.ok(!JSON.stringify(rows[0].details).includes('104.6'), 'a digest, never the values');
    assert.deepEqual(await findPriorRuns({ workflowId: 'lab-result-195900-ffffffffffffffffffff' }), { lastVersion: 0 });
  });

  it('drives the next run: the same values are a re-delivery, new values a correction, another patient is refused', async () => {
    const summary = await findPriorRuns({ workflowId: first.ctx.workflowId });
    const again = (result: LabResult) => {
      const sim = new Simulator({
        result,
        policy: testPolicy(),
        startMs: START + 40 * DAY_MS,
        smsConsent: true,
        spruceSecure: true,
        prior: summary,
      });
      sim.complete(0, 'ok');
      return sim;
    };
    const same = again({ ...v1, messageId: 'AGAIN-1', signedOff: { providerId: 'prov-1' } });
    same.drain(1);
    assert.ok(same.model.actions.some((a) => a.outcome === 'already-notified-earlier-run'));
    assert.deepEqual(same.violations, []);

    const changed = again({
      ...v1,
      messageId: 'AGAIN-2',
      observations: [{ ...v1.observations[0], value: '131.7' }],
      signedOff: { providerId: 'prov-1' },
    });
    assert.equal(changed.model.version, 2);
    assert.equal(changed.model.gate.signature, undefined, 'an undated source flag does not sign a correction');
    assert.ok(changed.model.actions.some((a) => a.kind === 'correction' && a.outcome === 're-gated'));
    assert.ok(changed.model.actions.some((a) => a.outcome === 'stale-source-sign-off-ignored'));

    const other = again({ ...v1, messageId: 'AGAIN-3', patient: { ...v1.patient, id: 'MRN-909' } });
    assert.equal(other.model.version, 1, 'nothing taken in');
    assert.equal(other.model.patientMismatch?.count, 1);
  });

  it("ignores rows that are not the workflow's own decisions and closing rows it cannot read", async () => {
    const workflowId = 'lab-result-195900-abcdefabcdefabcdefab';
    await audit.append({
      occurredAt: new Date(START).toISOString(),
      practiceId: '195900',
      workflowId,
      patientId: 'MRN-1',
      actor: { type: 'staff', id: 'staff-1' },
      action: 'routing-decision',
      outcome: 'closed',
      details: { version: 99, contentDigest: 'f'.repeat(64), lastStatus: 'final' },
      idempotencyKey: `review:${workflowId}:1`,
    });
    assert.deepEqual(await findPriorRuns({ workflowId }), { lastVersion: 0 }, 'not written by the workflow');
    await audit.append({
      occurredAt: new Date(START).toISOString(),
      practiceId: '195900',
      workflowId,
      patientId: 'MRN-2',
      actor: { type: 'system', id: 'lab-result-workflow' },
      action: 'routing-decision',
      outcome: 'closed',
      details: { version: 4, contentDigest: 'not-a-digest', lastStatus: 'sort of final' },
      idempotencyKey: `${workflowId}:run-x:7`,
    });
    assert.deepEqual(await findPriorRuns({ workflowId }), { lastVersion: 4, patientId: 'MRN-2' });
  });
});

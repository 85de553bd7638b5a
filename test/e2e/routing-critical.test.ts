import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Stack } from '../../sandbox/stack';
import {
  assertAuditChainIntact,
  assertAuditFreeOfPhi,
  assertNoPhi,
  athenaCasesOf,
  auditRows,
  callTasksOf,
  grantSmsConsent,
  outboxOf,
  pagesAbout,
  pagesTo,
  postHl7,
  secureMessagesTo,
  seedAthenaPatient,
  seedSpruceContact,
  signOff,
  smsTo,
  statusOf,
  untilAudit,
  untilStatus,
  type Accepted,
} from '../fixtures/e2e/loop';
import { oru, PATIENTS, phiOf } from '../fixtures/e2e/patients';
import { eventually, startTestStack } from '../support/stack';

/**
 * Routing table, row "critical", on the assembled loop: at first sight, before anyone signs, the
 * on-call provider is paged (Spruce fake) and an outbound-call task is opened (call_task table and
 * an athena patient case assigned to the on-call provider); the page time is logged; the patient
 * gets no automated message at any point, also after a sign-off, although consent and a Spruce
 * account are on file; and a call task left open past `criticalCallEscalationMinutes` escalates
 * with a second page, which is audited.
 */

const ON_CALL = 'prov-oncall';
const ON_CALL_MEMBER = 'entity_member_oncall';
const ON_CALL_ATHENA_USER = 'srivera';
const ADMINISTRATOR = 'admin-1';
const ADMINISTRATOR_MEMBER = 'entity_member_admin';
/** Policy `criticalCallEscalationMinutes` in this file (default 30): the shortest the registry allows. */
const ESCALATION_MINUTES = 1;

describe('routing, critical result: page and call at once, never an automated patient message', () => {
  const who = PATIENTS.critical;
  let stack: Stack;
  let contactId: string;
  let accepted: Accepted;
  let receivedAt: number;
  let taskCreatedAt: number;

  before(async () => {
    stack = await startTestStack({
      policyOverrides: {
        // All day, so that "no text" is never explained by quiet hours.
        patientQuietHours: { start: '00:00', end: '00:00' },
        // One minute instead of 30, so the escalation happens in real time within the test.
        criticalCallEscalationMinutes: ESCALATION_MINUTES,
      },
    });
    seedAthenaPatient(stack, who);
    // Every channel is open to this patient; none may be used.
    await grantSmsConsent(stack, who);
    contactId = seedSpruceContact(stack, who, true);
  });
  after(async () => {
    await stack?.stop();
  });

  it('pages the on-call provider and opens a call task before anyone signs', async () => {
    receivedAt = Date.now();
    accepted = await postHl7(stack, oru('critical', who, { accession: 'E2E-CRIT-1', controlId: 'E2E-CRIT-1-1' }));
    const page = await eventually(
      () => pagesTo(stack, ON_CALL_MEMBER).find((p) => p.text.includes(accepted.workflowId)),
      30_000,
      'the page to the on-call provider',
    );
    assert.match(page.text, /^URGENT: Critical lab result needs action\./);
    assertNoPhi(page.text, [...phiOf(who, 'critical'), who.firstName], 'the page');

    const [task] = await eventually(
      async () => {
        const rows = await callTasksOf(stack, accepted.workflowId);
        return rows[0]?.athena_case_id != null ? rows : undefined;
      },
      30_000,
      'the call task with its athena case',
    );
    taskCreatedAt = Date.now();
    assert.deepEqual(
      [task.reason, task.priority, task.status, task.assigned_to, task.patient_id],
      ['critical-result', 'urgent', 'open', ON_CALL, who.id],
    );
    const cases = athenaCasesOf(stack, who);
    assert.equal(cases.length, 1);
    assert.equal(cases[0].patientCaseId, task.athena_case_id);
    assert.equal(cases[0].priority, '1', 'athena priority 1 (urgent)');
    assert.equal(cases[0].outboundOnly, true);
    assert.equal(cases[0].assignedTo, ON_CALL_ATHENA_USER);
    assertNoPhi(`${cases[0].subject ?? ''} ${cases[0].internalNote ?? ''}`, phiOf(who, 'critical'), 'the case');

    const view = await untilStatus(
      stack,
      accepted.workflowId,
      'critical-call with the page time logged',
      (v) => v.criticalPagedAt !== undefined && (v.callTasks ?? []).some((t) => t.status === 'open'),
    );
    assert.equal(view.acuity, 'critical');
    assert.equal(view.signed, false, 'all of this happened before sign-off');
    assert.equal(view.state, 'critical-call');
    const pagedAt = Date.parse(view.criticalPagedAt ?? '');
    assert.ok(pagedAt >= receivedAt - 1_000 && pagedAt <= Date.now(), `page time ${view.criticalPagedAt}`);
    const audited = await untilAudit(stack, accepted.workflowId, 'page', 'paged');
    assert.equal(audited.details.pagedAt, view.criticalPagedAt, 'the page time is in the audit log');
    assert.equal(audited.details.staffId, ON_CALL);
    // The review queue carries the page time too (the queue sorts criticals first); its row is written
    // by a bookkeeping activity after the state change, so it is waited for.
    await eventually(
      async () => {
        const { rows } = await stack.pool.query<{ critical_paged_at: Date | null }>(
          `SELECT critical_paged_at FROM review_item WHERE workflow_id = $1`,
          [accepted.workflowId],
        );
        return rows[0]?.critical_paged_at?.getTime() === pagedAt ? true : undefined;
      },
      15_000,
      'the page time in the review queue',
    );
    // The page went at first sight, before the run knew its version numbers: version 0, a step named for the run.
    const sends = view.deliveries.map((d) => `${d.channel}:${d.step}:${d.status}`);
    assert.equal(sends.length, 1, `the page is the only send: ${sends.join(', ')}`);
    assert.match(sends[0], /^page:v0:page-critical-oncall-[0-9a-f-]{36}:sent$/);
    assert.equal(smsTo(stack, who).length, 0);
    assert.equal(secureMessagesTo(stack, contactId).length, 0);
  });

  it('after a sign-off: still no text, no secure message and no portal note', async () => {
    const signed = await signOff(stack, accepted.workflowId, 'prov-1', 'Please go to the emergency department.');
    assert.equal(signed.alreadySigned, false);
    // The routing decision for a signed critical is the last thing that could have sent anything.
    await untilAudit(stack, accepted.workflowId, 'routing-decision', 'critical-staff-call-only');
    const view = await untilStatus(stack, accepted.workflowId, 'signed', (v) => v.signed);
    assert.equal(view.state, 'critical-call', 'the call task is what is open');
    assert.deepEqual(
      view.deliveries.map((d) => d.channel),
      ['page'],
    );
    assert.equal(smsTo(stack, who).length, 0, 'no text, consent notwithstanding');
    assert.equal(secureMessagesTo(stack, contactId).length, 0, 'no secure message, Spruce account notwithstanding');
    assert.equal(
      stack.fakes.athena.control.patientNotes().filter((n) => n.patientId === who.id).length,
      0,
      'no portal note',
    );
    for (const channel of ['sms', 'spruce', 'portal']) {
      assert.deepEqual(await outboxOf(stack, accepted.workflowId, channel), [], `no ${channel} intent in the outbox`);
    }
  });

  it(`escalates to a second page when the call is not completed within ${ESCALATION_MINUTES} minute`, async () => {
    const escalation = await untilAudit(
      stack,
      accepted.workflowId,
      'escalation',
      'call-not-completed-in-time',
      ESCALATION_MINUTES * 60_000 + 30_000,
    );
    const waited = Date.now() - taskCreatedAt;
    assert.ok(waited >= ESCALATION_MINUTES * 60_000 - 5_000, `not before the window (${waited} ms after the task)`);
    const [task] = await callTasksOf(stack, accepted.workflowId);
    assert.equal(escalation.details.taskId, task.id);

    // Whom the workflow decided to page is audited: the page request names the staff member.
    // Audit rows are appended in order by a bookkeeping activity, a moment after the decision.
    const requests = await eventually(
      async () => {
        const rows = (await auditRows(stack, accepted.workflowId)).filter(
          (r) => r.action === 'page' && r.outcome === 'requested',
        );
        return rows.length >= 2 ? rows : undefined;
      },
      15_000,
      'both page requests in the audit log',
    );
    assert.deepEqual(
      requests.map((r) => [String(r.details.step).replace(/-[0-9a-f-]{36}$/, ''), r.details.staffId, r.details.reason]),
      [
        ['page-critical-oncall', ON_CALL, 'critical-result'],
        ['call-overdue-call-critical', ADMINISTRATOR, 'call-overdue'],
      ],
    );
    const second = await eventually(
      () => pagesTo(stack, ADMINISTRATOR_MEMBER).find((p) => p.text.includes(accepted.workflowId)),
      30_000,
      'the escalation page at the Spruce fake',
    );
    assert.match(second.text, /^URGENT: Outbound call for a lab result is overdue\./);
    assert.equal(pagesAbout(stack, accepted.workflowId).length, 2, 'two pages in all, no repeats');
    const view = await untilStatus(stack, accepted.workflowId, 'escalation page sent', (v) =>
      v.deliveries.some((d) => d.step === 'v1:call-overdue-call-critical' && d.status === 'sent'),
    );
    assert.equal(view.state, 'critical-call', 'the task stays open for staff');
    assert.equal(smsTo(stack, who).length, 0, 'never a text');
    assert.equal(secureMessagesTo(stack, contactId).length, 0, 'never a secure message');
  });

  it('keeps the audit chain intact, with a trail that holds no PHI', async () => {
    const trail = (await auditRows(stack, accepted.workflowId)).map((r) => `${r.action}:${r.outcome}`);
    // Paged and tasked before the sign-off was recorded.
    assert.ok(trail.indexOf('routing-decision:critical-page-and-call') < trail.indexOf('sign-off:signed'));
    assert.ok(trail.indexOf('call-task:created') < trail.indexOf('sign-off:signed'), trail.join(', '));
    assert.equal((await statusOf(stack, accepted.workflowId)).callTasks?.length, 1, 'one call task, never stacked');
    await assertAuditFreeOfPhi(stack, [...phiOf(who, 'critical'), who.firstName, 'emergency department']);
    await assertAuditChainIntact(stack);
  });
});

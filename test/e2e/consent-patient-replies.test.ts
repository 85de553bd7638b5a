import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SERVICE_NUMBER } from '../../sandbox/fakes/twilio';
import type { Stack } from '../../sandbox/stack';
import {
  assertAuditChainIntact,
  assertAuditFreeOfPhi,
  auditRows,
  grantSmsConsent,
  outboxOf,
  postHl7,
  settle,
  signOff,
  smsConsentOf,
  smsTo,
  untilAudit,
  untilStatus,
  type Accepted,
} from '../fixtures/e2e/loop';
import { oru, PATIENTS, phiOf, SIGNED_FACILITY, type E2ePatient } from '../fixtures/e2e/patients';
import { eventually, startTestStack } from '../support/stack';

/**
 * Consent by the patient, end to end: texts arrive at the Twilio fake from the patient's phone and
 * are posted, signed, to the API's inbound webhook, which records the consent change and signals
 * the patient's open workflows.
 *
 * - STOP while a result waits for sign-off: after the sign-off nothing is texted (not even the
 *   practice's consent invitation), the portal note still goes;
 * - a free-text "please stop texting me" has the same effect (FCC 24-18: any reasonable means);
 * - START restores texting: the next result is texted (and so is the open one, which the patient
 *   has now agreed to).
 */

const FREE_TEXT_REVOCATION = 'please stop texting me';

describe('consent by the patient: STOP and free-text revocations hold, START restores', () => {
  const keyword = PATIENTS.stopKeyword;
  const freeText = PATIENTS.stopFreeText;
  let stack: Stack;
  const first = new Map<E2ePatient, Accepted>();

  before(async () => {
    stack = await startTestStack({
      policyOverrides: {
        // All day, so a text that should not go could go at any moment the test runs.
        patientQuietHours: { start: '00:00', end: '00:00' },
        // On, to show that a patient who said no does not even get the invitation.
        smsConsentInvitation: true,
      },
    });
    await grantSmsConsent(stack, keyword);
    await grantSmsConsent(stack, freeText);
  });
  after(async () => {
    await stack?.stop();
  });

  /** The patient texts our number; the API must accept the signed webhook. */
  async function patientTexts(who: E2ePatient, body: string): Promise<void> {
    const inbound = await stack.fakes.twilio.simulateInbound({ from: who.phone, to: DEFAULT_SERVICE_NUMBER, body });
    assert.equal(inbound.webhookStatus, 200, `the inbound webhook accepted ${JSON.stringify(body)}`);
  }

  it('two unsigned normal results wait for sign-off, linked to the patients’ numbers', async () => {
    for (const [who, accession] of [
      [keyword, 'E2E-CON-1'],
      [freeText, 'E2E-CON-2'],
    ] as const) {
      const accepted = await postHl7(stack, oru('normal', who, { accession, controlId: `${accession}-1` }));
      first.set(who, accepted);
      await untilStatus(stack, accepted.workflowId, 'awaiting sign-off', (v) => v.state === 'awaiting-sign-off');
      // A reply reaches open workflows through this link; wait for it before the patient writes.
      await eventually(
        async () => {
          const { rows } = await stack.pool.query(
            `SELECT 1 FROM workflow_patient WHERE workflow_id = $1 AND phone_e164 = $2 AND open`,
            [accepted.workflowId, who.phone],
          );
          return rows.length === 1 ? true : undefined;
        },
        15_000,
        'the workflow-patient link',
      );
    }
  });

  it('STOP and "please stop texting me" revoke consent and reach the waiting workflows', async () => {
    await patientTexts(keyword, 'STOP');
    await patientTexts(freeText, FREE_TEXT_REVOCATION);
    assert.deepEqual(await smsConsentOf(stack, keyword), { consented: false, source: 'keyword' });
    assert.deepEqual(await smsConsentOf(stack, freeText), { consented: false, source: 'free-text' });
    for (const who of [keyword, freeText]) {
      const workflowId = first.get(who)?.workflowId ?? '';
      const change = await untilAudit(stack, workflowId, 'consent-change', 'revoked');
      assert.deepEqual([change.actor_type, change.actor_id], ['patient', who.id]);
    }
    const rules = (await auditRows(stack))
      .filter((r) => r.action === 'consent-change' && r.workflow_id === null)
      .map((r) => [r.patient_id, r.details.source]);
    assert.deepEqual(rules, [
      [keyword.id, 'keyword'],
      [freeText.id, 'free-text'],
    ]);
  });

  it('after the sign-off nothing is texted to either patient, not even the invitation', async () => {
    for (const who of [keyword, freeText]) {
      const workflowId = first.get(who)?.workflowId ?? '';
      await signOff(stack, workflowId, 'prov-1');
      // The routing decision and an idle workflow: every send it wanted has been made by now.
      const decision = await untilAudit(stack, workflowId, 'routing-decision', /^portal/);
      assert.equal(decision.outcome, 'portal-only', 'neither a result text nor an invitation');
      const view = await untilStatus(stack, workflowId, 'notified', (v) => v.state === 'notified');
      assert.deepEqual(
        view.deliveries.map((d) => d.channel),
        ['portal'],
      );
      assert.deepEqual(await outboxOf(stack, workflowId, 'sms'), [], 'no text was even attempted');
    }
    await settle(1_500);
    assert.equal(smsTo(stack, keyword).length, 0);
    assert.equal(smsTo(stack, freeText).length, 0);
  });

  it('START restores texting: the next result gets its one text, the other patient still none', async () => {
    await patientTexts(keyword, 'START');
    assert.deepEqual(await smsConsentOf(stack, keyword), { consented: true, source: 'keyword' });
    const next = await postHl7(
      stack,
      oru('normal', keyword, { accession: 'E2E-CON-3', controlId: 'E2E-CON-3-1', facility: SIGNED_FACILITY }),
    );
    await untilAudit(stack, next.workflowId, 'routing-decision', 'sms-and-portal');
    const view = await untilStatus(stack, next.workflowId, 'the text delivered', (v) =>
      v.deliveries.some((d) => d.channel === 'sms' && d.status === 'delivered'),
    );
    assert.equal(view.deliveries.filter((d) => d.channel === 'sms').length, 1);

    // The first result's workflow is still open, and the patient has just agreed to texts: its text
    // goes too (workflows/routing.ts textAfterConsent), once.
    const earlier = first.get(keyword)?.workflowId ?? '';
    await untilAudit(stack, earlier, 'routing-decision', 'sms-after-consent');
    await untilStatus(stack, earlier, 'the earlier result texted', (v) =>
      v.deliveries.some((d) => d.channel === 'sms' && d.status === 'delivered'),
    );
    await settle(1_500);
    const texts = smsTo(stack, keyword);
    assert.equal(texts.length, 2, 'one text per result');
    for (const text of texts) assert.match(text.body, /your lab results are ready in your patient portal/);
    assert.equal(smsTo(stack, freeText).length, 0, 'the other patient is still opted out');
  });

  it('keeps the audit chain intact, with no PHI (and not the patient’s words) in it', async () => {
    await assertAuditFreeOfPhi(stack, [
      ...phiOf(keyword, 'normal'),
      ...phiOf(freeText, 'normal'),
      keyword.firstName,
      freeText.firstName,
      FREE_TEXT_REVOCATION,
      'texting',
    ]);
    await assertAuditChainIntact(stack);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAthenaClient, type AthenaClient } from '../../lib/clients/athena';
import type { Stack } from '../../sandbox/stack';
import {
  ATHENA_FEED_POLL_WORKFLOW_TYPE,
  LAB_RESULT_WORKFLOW_TYPE,
  type AthenaFeedPollSummary,
} from '../../workflows/definitions';
import {
  assertAuditChainIntact,
  assertAuditFreeOfPhi,
  assertNoPhi,
  auditRows,
  grantSmsConsent,
  postHl7,
  seedAthenaPatient,
  settle,
  smsTo,
  statusOf,
  untilAudit,
  untilStatus,
  workflowIdOf,
} from '../fixtures/e2e/loop';
import { athenaLabResultSeed, oru, phiOf, PRACTICE_ID, type E2ePatient } from '../fixtures/e2e/patients';
import { hl7Phi, personPatterns } from '../support/phi-scan';
import { startTestStack } from '../support/stack';

/**
 * One result, two sources, one workflow, on the assembled loop. The lab sends a normal metabolic
 * panel to labloop over HL7 (facility RIVERSIDE, the lab's own filler number) and, through its
 * athena interface, to athena, which files it as a lab-result document with an ID of its own and the
 * lab's accession number. athena then tells labloop about it twice: its webhook and its changed-data
 * feed. All of it lands on the HL7 result's workflow; athena's copy is recorded, not delivered again.
 * The provider reviews the result in athena (the fake marks it reviewed), and that sign-off, arriving
 * by webhook and feed, releases the workflow: the patient gets one text, not two.
 */

/** A patient of this file only (PID-3 and athena's patient ID, as an athena-integrated lab sends it). */
const WHO: E2ePatient = {
  id: '7140',
  firstName: 'Bartholomew',
  lastName: 'Quincefield',
  dob: '19740611',
  sex: 'M',
  street: '40 Harbor St',
  city: 'Medford',
  zip: '02155',
  phone: '+16175550200',
};
const ACCESSION = 'E2E-LINK-0001';
const LAB_RESULT_ID = '880140';
/** athena's ID of the ordering (and reviewing) provider: prov-1's NPI in the sandbox registry. */
const ATHENA_PROVIDER = '1234567890';
const MESSAGE = oru('normal', WHO, { accession: ACCESSION, controlId: 'E2E-LINK-1' });

describe('one result from the lab over HL7 and from athena: one workflow, one notification', () => {
  let stack: Stack;
  let athena: AthenaClient;
  let workflowId: string;

  before(async () => {
    stack = await startTestStack({
      // The messaging window is not this file's subject: all day.
      policyOverrides: { patientQuietHours: { start: '00:00', end: '00:00' }, smsConsentInvitation: false },
      phi: [...personPatterns(WHO), ...hl7Phi(MESSAGE)],
    });
    seedAthenaPatient(stack, WHO);
    await grantSmsConsent(stack, WHO);
    athena = createAthenaClient({
      baseUrl: stack.urls.athena,
      clientId: stack.secrets.athenaClientId,
      clientSecret: stack.secrets.athenaClientSecret,
      requestsPerSecond: 100,
    });
    // The feed the Schedule polls in production (the shared test server runs no schedules: polled by hand).
    await athena.subscribeLabResultChanges({ practiceId: PRACTICE_ID });
  });
  after(async () => {
    await stack?.stop();
  });

  /** One poll of athena's changed-data feed, as the Schedule starts it. */
  const pollFeed = () =>
    stack.temporal.workflow.execute(ATHENA_FEED_POLL_WORKFLOW_TYPE, {
      taskQueue: stack.taskQueue,
      workflowId: `athena-feed-poll-e2e-link-${Date.now()}`,
      args: [{ practiceId: PRACTICE_ID }],
    }) as Promise<AthenaFeedPollSummary>;

  const labResultWorkflows = async (): Promise<string[]> => {
    const ids: string[] = [];
    const query = `TaskQueue = "${stack.taskQueue}" AND WorkflowType = "${LAB_RESULT_WORKFLOW_TYPE}"`;
    for await (const execution of stack.temporal.workflow.list({ query })) ids.push(execution.workflowId);
    return ids;
  };

  it('the lab’s HL7 result and athena’s document of it (webhook and feed) are one workflow', async () => {
    const accepted = await postHl7(stack, MESSAGE);
    workflowId = accepted.workflowId;
    await untilStatus(stack, workflowId, 'waiting for sign-off', (v) => v.state === 'awaiting-sign-off');

    // The lab's interface files the same result in athena: athena's webhook fires, and the feed lists it.
    stack.fakes.athena.control.addLabResult({
      ...athenaLabResultSeed(WHO, 'normal', { labResultId: LAB_RESULT_ID, signed: false }),
      externalAccessionId: ACCESSION,
      performingLabName: 'Quest Diagnostics',
    });
    await untilAudit(stack, workflowId, 'ingest', 'linked-recorded');
    const polled = await pollFeed();
    assert.ok(polled.read >= 1, `the feed listed athena's document: ${JSON.stringify(polled)}`);
    assert.equal(polled.deadLettered, 0);

    assert.deepEqual(await labResultWorkflows(), [workflowId], 'one workflow for the result');
    assert.notEqual(workflowIdOf(stack, LAB_RESULT_ID), workflowId);
    const view = await statusOf(stack, workflowId);
    assert.equal(view.version, 1, 'athena’s copy is not delivered as another version');
    assert.equal(view.signed, false);
    assert.equal(smsTo(stack, WHO).length, 0, 'nothing goes out before a provider signs');
    const { rows } = await stack.pool.query<{ source: string; workflow_ids: string[] }>(
      `SELECT source, workflow_ids FROM ingest_message WHERE practice_id = $1 ORDER BY id`,
      [PRACTICE_ID],
    );
    assert.ok(
      rows.some((r) => r.source === 'athena'),
      'athena’s document was taken in',
    );
    for (const row of rows)
      assert.deepEqual(row.workflow_ids, [workflowId], `${row.source} resolved to the one workflow`);
  });

  it('the sign-off observed in athena releases that workflow: one text to the patient', async () => {
    // The provider reviews the result in athena; the webhook and the feed both bring the change.
    stack.fakes.athena.control.signOff(LAB_RESULT_ID, ATHENA_PROVIDER);
    await pollFeed();
    const view = await untilStatus(
      stack,
      workflowId,
      'signed through athena and the text delivered',
      (v) => v.signed && v.deliveries.some((d) => d.channel === 'sms' && d.status === 'delivered'),
    );
    assert.equal(view.signedBy, 'prov-1');
    const signOff = await untilAudit(stack, workflowId, 'sign-off', /.+/);
    assert.equal(signOff.actor_id, 'prov-1');
    assert.equal((signOff.details as { via?: string }).via, 'athena');
    await untilAudit(stack, workflowId, 'ingest', 'linked-sign-off-applied');

    // Both deliveries of the review (webhook and feed) have been taken in; nothing more goes out.
    await pollFeed();
    await settle(2_000);
    const texts = smsTo(stack, WHO);
    assert.equal(texts.length, 1, 'exactly one text');
    assert.match(texts[0].body, /your lab results are ready in your patient portal/);
    assertNoPhi(texts[0].body, phiOf(WHO, 'normal'), 'the SMS body');
    assert.deepEqual(await labResultWorkflows(), [workflowId], 'still one workflow');
    // Every ingest row of the workflow is the HL7 message's acceptance (with its sender) or a linking decision.
    const linkAudit = (await auditRows(stack, workflowId)).filter((r) => r.action === 'ingest');
    assert.ok(
      linkAudit.every((r) => r.outcome.startsWith('linked-') || r.outcome === 'accepted'),
      JSON.stringify(linkAudit),
    );
  });

  it('leaves the audit chain intact and free of the patient’s PHI', async () => {
    await assertAuditFreeOfPhi(stack, phiOf(WHO, 'normal'));
    await assertAuditChainIntact(stack);
  });
});

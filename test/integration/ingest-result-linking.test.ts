import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { AthenaIngestActivities, AthenaIngestOutcome } from '../../domain/athena-ingest-contract';
import { resultIdentity, workflowIdForResult } from '../../lib/ingest/handoff';
import { parseHl7ForPractice } from '../../api/ingest/hl7-ingest';
import type { AthenaClient } from '../../lib/clients/athena';
import { ATHENA_RESULT_ID_ISSUER } from '../../lib/result-ref';
import { startAthenaFake, type AthenaFake, type LabResultSeed } from '../../sandbox/fakes/athena';
import { getStatusQuery, LAB_RESULT_WORKFLOW_TYPE } from '../../workflows/definitions';
import { athenaLabResultSeed, oru, type E2ePatient } from '../fixtures/e2e/patients';
import {
  ATHENA_CLIENT_ID,
  ATHENA_CLIENT_SECRET,
  AUTH,
  athenaIngestActivitiesFor,
  athenaTestClient,
  eventually,
  ingestRows,
  PRACTICE_ID,
  signalCount,
  startIngestHarness,
  unreachableTemporalClient,
  workflowExists,
  type IngestHarness,
} from './ingest-harness';

/**
 * Identity linking, end to end (real Temporal, worker, PostgreSQL, athena fake): one result the lab
 * sends both to labloop (HL7 from facility RIVERSIDE, its own filler numbers) and to athena (a
 * lab-result document with athena's own ID) is one workflow, whichever source arrives first, and
 * also when both arrive at once. The source that arrived first defines the result; the other one's
 * versions are recorded and not delivered again, and athena's sign-off signs the workflow when its
 * values are the ones the workflow shows. What must stay apart stays apart: another patient, another
 * panel, and two labs' HL7 results with the same filler number.
 */

/** athena's ID of prov-1 in the sandbox (its NPI), who orders the normal panel. */
const ATHENA_PROVIDER = '1234567890';

void describe('identity linking: the same result from the lab over HL7 and from athena', () => {
  let h: IngestHarness;
  let fake: AthenaFake;
  let athena: AthenaClient;
  let activities: AthenaIngestActivities;
  let nextPatient = 7_300_000 + Math.floor(Math.random() * 90_000);

  before(async () => {
    fake = await startAthenaFake({
      clientId: ATHENA_CLIENT_ID,
      clientSecret: ATHENA_CLIENT_SECRET,
      practiceIds: [PRACTICE_ID],
    });
    athena = athenaTestClient(fake.url);
    // The sandbox registry: facility RIVERSIDE (the lab's own numbers) and athena practice 195900.
    h = await startIngestHarness({ label: 'ingest_result_linking' });
    activities = athenaIngestActivitiesFor(h, athena, { temporal: () => h.client });
  });
  after(async () => {
    await fake?.close();
    await h?.close();
  });

  const tag = () => randomBytes(4).toString('hex').toUpperCase();

  function newPatient(): E2ePatient {
    nextPatient += 1;
    const id = String(nextPatient);
    fake.control.addPatient({
      practiceId: PRACTICE_ID,
      patientId: id,
      firstName: 'Linus',
      lastName: 'Marrowby',
      dob: '1979-03-14',
      mobilePhone: '6175550150',
    });
    return {
      id,
      firstName: 'Linus',
      lastName: 'Marrowby',
      dob: '19790314',
      sex: 'M',
      street: '12 Harbor St',
      city: 'Medford',
      zip: '02155',
      phone: '+16175550150',
    };
  }

  /** The lab's normal CMP for `who` over HTTPS; returns the workflow the API answered with. */
  async function postLabHl7(who: E2ePatient, accession: string, controlId = `LNK-${tag()}`) {
    const response = await h.built.app.inject({
      method: 'POST',
      url: '/v1/hl7',
      headers: { ...AUTH, 'content-type': 'application/hl7-v2', accept: 'application/json' },
      payload: oru('normal', who, { accession, controlId }),
    });
    assert.equal(response.statusCode, 202, response.body);
    const body = response.json<{ ack: string; results: { workflowId: string }[] }>();
    assert.equal(body.ack, 'AA');
    return { workflowId: body.results[0]?.workflowId ?? '', controlId };
  }

  /** The workflow the HL7 result would have if no other source had defined it. */
  function ownHl7WorkflowId(who: E2ePatient, accession: string): string {
    const parsed = parseHl7ForPractice(oru('normal', who, { accession, controlId: 'X' }), h.practices);
    assert.ok(parsed.ok);
    const [result] = parsed.results;
    assert.ok(result !== undefined);
    return workflowIdForResult(h.idSecret, resultIdentity(result));
  }

  const athenaWorkflowId = (labResultId: string) =>
    workflowIdForResult(h.idSecret, {
      practiceId: PRACTICE_ID,
      issuer: ATHENA_RESULT_ID_ISSUER,
      resultId: labResultId,
    });

  /** athena's document of the same result, as the lab's interface files it there. */
  function addAthenaDocument(who: E2ePatient, accession: string, overrides: Partial<LabResultSeed> = {}): string {
    const labResultId = String(5_000_000 + Math.floor(Math.random() * 4_000_000));
    fake.control.addLabResult({
      ...athenaLabResultSeed(who, 'normal', { labResultId, signed: false }),
      externalAccessionId: accession,
      performingLabName: 'Quest Diagnostics',
      ...overrides,
    });
    return labResultId;
  }

  const ingestAthena = (who: E2ePatient, labResultId: string): Promise<AthenaIngestOutcome> =>
    activities.ingestAthenaLabResult({ practiceId: PRACTICE_ID, labResultId, patientId: who.id, trigger: 'webhook' });

  const labResultWorkflowsOf = async (workflowIds: string[]) => {
    const found: string[] = [];
    for (const id of workflowIds) if (await workflowExists(h.client, id)) found.push(id);
    return found;
  };

  const auditOutcomes = async (workflowId: string) =>
    (
      await h.db.pool.query<{ action: string; outcome: string; actor_id: string }>(
        'SELECT action, outcome, actor_id FROM audit_log WHERE workflow_id = $1 ORDER BY seq',
        [workflowId],
      )
    ).rows;

  void it('HL7 first: athena’s document (webhook or feed) lands on the HL7 workflow, and athena’s sign-off signs it', async () => {
    const who = newPatient();
    const accession = `ACC-${tag()}`;
    const hl7 = await postLabHl7(who, accession);
    assert.equal(hl7.workflowId, ownHl7WorkflowId(who, accession), 'the first source defines the workflow');
    const labResultId = addAthenaDocument(who, accession);

    const first = await ingestAthena(who, labResultId);
    assert.equal(first.kind, 'handed-off');
    assert.ok(first.kind === 'handed-off');
    assert.equal(first.workflowId, hl7.workflowId, 'athena’s document resolved to the HL7 workflow');
    assert.equal(first.linked, 'recorded');
    assert.deepEqual(await labResultWorkflowsOf([hl7.workflowId, athenaWorkflowId(labResultId)]), [hl7.workflowId]);
    assert.equal(await signalCount(h.client, hl7.workflowId), 1, 'athena’s rendering is not delivered as a version');
    const athenaRows = (await ingestRows(h)).filter((r) => r.source === 'athena');
    assert.deepEqual(
      athenaRows.filter((r) => r.workflow_ids.includes(hl7.workflowId)).map((r) => r.status),
      ['handed-off'],
    );
    // The feed reading the same document again is a duplicate, not a second anything.
    const again = await activities.ingestAthenaLabResult({
      practiceId: PRACTICE_ID,
      labResultId,
      patientId: who.id,
      trigger: 'feed',
    });
    assert.ok(again.kind === 'handed-off' && again.duplicate && again.workflowId === hl7.workflowId);

    // The provider reviews it in athena: the next read of the document signs the HL7 workflow.
    fake.control.signOff(labResultId, ATHENA_PROVIDER);
    const signed = await ingestAthena(who, labResultId);
    assert.ok(signed.kind === 'handed-off');
    assert.equal(signed.workflowId, hl7.workflowId);
    assert.equal(signed.linked, 'sign-off-applied');
    const view = await h.client.workflow.getHandle(hl7.workflowId).query(getStatusQuery);
    assert.equal(view.signed, true);
    assert.equal(view.signedBy, 'prov-1');
    assert.equal(view.version, 1, 'still the one version the lab sent');
    assert.deepEqual(await labResultWorkflowsOf([athenaWorkflowId(labResultId)]), []);

    // The workflow writes its own sign-off row by an activity, moments after the query shows it.
    const audit = await eventually('the workflow’s sign-off audit row', async () => {
      const rows = await auditOutcomes(hl7.workflowId);
      return rows.some((r) => r.action === 'sign-off' && r.actor_id === 'prov-1') ? rows : undefined;
    });
    assert.ok(audit.some((r) => r.action === 'ingest' && r.outcome === 'linked-recorded' && r.actor_id === 'athena'));
    assert.ok(audit.some((r) => r.action === 'ingest' && r.outcome === 'linked-sign-off-applied'));
  });

  void it('athena first: the lab’s HL7 result is answered AA with athena’s workflow and not delivered twice', async () => {
    const who = newPatient();
    const accession = `ACC-${tag()}`;
    const labResultId = addAthenaDocument(who, accession);
    const first = await ingestAthena(who, labResultId);
    assert.ok(first.kind === 'handed-off');
    assert.equal(first.workflowId, athenaWorkflowId(labResultId));
    assert.equal(first.linked, undefined, 'athena defined this result');

    const hl7 = await postLabHl7(who, accession);
    assert.equal(hl7.workflowId, athenaWorkflowId(labResultId), 'the HL7 result resolved to athena’s workflow');
    assert.deepEqual(await labResultWorkflowsOf([ownHl7WorkflowId(who, accession)]), []);
    assert.equal(await signalCount(h.client, hl7.workflowId), 1);
    const audit = await auditOutcomes(hl7.workflowId);
    assert.ok(audit.some((r) => r.action === 'ingest' && r.outcome === 'linked-recorded' && r.actor_id === 'hl7'));

    // A retransmission of the HL7 message is a duplicate of the linked hand-off.
    const resend = await h.built.app.inject({
      method: 'POST',
      url: '/v1/hl7',
      headers: { ...AUTH, 'content-type': 'application/hl7-v2', accept: 'application/json' },
      payload: oru('normal', who, { accession, controlId: hl7.controlId }),
    });
    const again = resend.json<{ duplicate: boolean; results: { workflowId: string }[] }>();
    assert.equal(again.duplicate, true);
    assert.equal(again.results[0]?.workflowId, hl7.workflowId);

    // athena stays the primary source: its sign-off arrives as a version, as for any athena result.
    fake.control.signOff(labResultId, ATHENA_PROVIDER);
    const signed = await ingestAthena(who, labResultId);
    assert.ok(signed.kind === 'handed-off' && signed.linked === undefined);
    assert.equal(await signalCount(h.client, hl7.workflowId), 2);
    await eventually('the athena sign-off', async () =>
      (await h.client.workflow.getHandle(hl7.workflowId).query(getStatusQuery)).signed ? true : undefined,
    );
  });

  void it('both at once: one workflow, whichever wins', async () => {
    for (let round = 0; round < 3; round += 1) {
      const who = newPatient();
      const accession = `ACC-${tag()}`;
      const labResultId = addAthenaDocument(who, accession);
      const [hl7, viaAthena] = await Promise.all([postLabHl7(who, accession), ingestAthena(who, labResultId)]);
      assert.ok(viaAthena.kind === 'handed-off');
      assert.equal(viaAthena.workflowId, hl7.workflowId, `round ${round}: both sources resolved to one workflow`);
      const candidates = [ownHl7WorkflowId(who, accession), athenaWorkflowId(labResultId)];
      assert.deepEqual(await labResultWorkflowsOf(candidates), [hl7.workflowId], `round ${round}`);
    }
  });

  void it('athena’s sign-off is withheld when athena’s values are not the ones the workflow shows', async () => {
    const who = newPatient();
    const accession = `ACC-${tag()}`;
    const hl7 = await postLabHl7(who, accession);
    const labResultId = addAthenaDocument(who, accession);
    assert.ok((await ingestAthena(who, labResultId)).kind === 'handed-off');
    // athena has a corrected glucose the lab's HL7 correction has not brought yet.
    const seed = athenaLabResultSeed(who, 'normal', { labResultId, signed: false });
    fake.control.updateLabResult(labResultId, {
      analytes: (seed.analytes ?? []).map((a) => (a.analytename === 'Glucose' ? { ...a, value: '131' } : a)),
    });
    fake.control.signOff(labResultId, ATHENA_PROVIDER);
    const outcome = await ingestAthena(who, labResultId);
    assert.ok(outcome.kind === 'handed-off');
    assert.equal(outcome.workflowId, hl7.workflowId);
    assert.equal(outcome.linked, 'sign-off-withheld');
    const view = await h.client.workflow.getHandle(hl7.workflowId).query(getStatusQuery);
    assert.equal(view.signed, false, 'a review of other values signs nothing');
    const audit = await h.db.pool.query<{ details: { reason?: string } }>(
      `SELECT details FROM audit_log WHERE workflow_id = $1 AND outcome = 'linked-sign-off-withheld'`,
      [hl7.workflowId],
    );
    assert.equal(audit.rows[0]?.details.reason, 'values-differ');
  });

  void it('another patient, or another panel, under the same accession stays a result of its own', async () => {
    const who = newPatient();
    const other = newPatient();
    const accession = `ACC-${tag()}`;
    const hl7 = await postLabHl7(who, accession);
    const otherPatients = addAthenaDocument(other, accession);
    const otherPanel = addAthenaDocument(who, accession, { labresultloinc: '57698-3', description: 'Lipid panel' });
    for (const [patient, labResultId] of [
      [other, otherPatients],
      [who, otherPanel],
    ] as const) {
      const outcome = await ingestAthena(patient, labResultId);
      assert.ok(outcome.kind === 'handed-off');
      assert.equal(outcome.workflowId, athenaWorkflowId(labResultId));
      assert.equal(outcome.linked, undefined);
    }
    assert.equal(
      (await labResultWorkflowsOf([hl7.workflowId, athenaWorkflowId(otherPatients), athenaWorkflowId(otherPanel)]))
        .length,
      3,
    );
  });

  void it('two labs’ HL7 results with the same filler number, patient and panel are never linked to each other', async () => {
    const who = newPatient();
    const accession = `ACC-${tag()}`;
    const quest = await postLabHl7(who, accession);
    // The same number from another lab (OBR-3.2 LABCORP): a result of its own, although its link key
    // (accession, panel, patient) is the one the first lab's result holds.
    const labcorp = oru('normal', who, { accession, controlId: `LNK-${tag()}` }).replaceAll(
      `|${accession}^QUESTLAB|`,
      `|${accession}^LABCORP|`,
    );
    assert.ok(labcorp.includes('^LABCORP|'));
    const response = await h.built.app.inject({
      method: 'POST',
      url: '/v1/hl7',
      headers: { ...AUTH, 'content-type': 'application/hl7-v2', accept: 'application/json' },
      payload: labcorp,
    });
    assert.equal(response.statusCode, 202, response.body);
    const other = response.json<{ results: { workflowId: string }[] }>().results[0]?.workflowId ?? '';
    assert.notEqual(other, quest.workflowId, 'two labs, two results');
    assert.deepEqual(await labResultWorkflowsOf([quest.workflowId, other]), [quest.workflowId, other]);
  });

  void it('nothing is lost when the first source never reached Temporal: the other source starts the workflow', async () => {
    const who = newPatient();
    const accession = `ACC-${tag()}`;
    const controlId = `LNK-${tag()}`;
    // The lab's message is recorded and its identity claimed, but Temporal is unreachable: AR.
    const down = await h.buildApi({ temporal: await unreachableTemporalClient(), temporalDeadlineMs: 300 });
    const refused = await down.app.inject({
      method: 'POST',
      url: '/v1/hl7',
      headers: { ...AUTH, 'content-type': 'application/hl7-v2', accept: 'application/json' },
      payload: oru('normal', who, { accession, controlId }),
    });
    assert.equal(refused.statusCode, 503, refused.body);
    const hl7WorkflowId = ownHl7WorkflowId(who, accession);
    assert.equal(await workflowExists(h.client, hl7WorkflowId), false);

    // athena's document resolves to the HL7 result and, finding no workflow, starts it.
    const labResultId = addAthenaDocument(who, accession);
    const outcome = await ingestAthena(who, labResultId);
    assert.ok(outcome.kind === 'handed-off');
    assert.equal(outcome.workflowId, hl7WorkflowId);
    assert.equal(outcome.linked, 'started');
    assert.equal(await workflowExists(h.client, hl7WorkflowId), true);

    // The lab resends (it got no AA): AA, the same workflow, and still one workflow for the result.
    const resent = await postLabHl7(who, accession, controlId);
    assert.equal(resent.workflowId, hl7WorkflowId);
    const query = `TaskQueue = "${h.taskQueue}" AND WorkflowType = "${LAB_RESULT_WORKFLOW_TYPE}" AND (WorkflowId = "${hl7WorkflowId}" OR WorkflowId = "${athenaWorkflowId(labResultId)}")`;
    assert.equal((await h.client.workflow.count(query)).count, 1);
  });
});

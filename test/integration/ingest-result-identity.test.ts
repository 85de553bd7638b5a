import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { workflowIdForResult } from '../../lib/ingest/handoff';
import { parsePracticeRegistry } from '../../lib/practices';
import { ATHENA_RESULT_ID_ISSUER } from '../../lib/result-ref';
import { startAthenaFake, type AthenaFake } from '../../sandbox/fakes/athena';
import { LAB_RESULT_WORKFLOW_TYPE } from '../../workflows/definitions';
import {
  ATHENA_CLIENT_ID,
  ATHENA_CLIENT_SECRET,
  ATHENA_WEBHOOK_SECRET,
  AUTH,
  athenaIngestActivitiesFor,
  athenaTestClient,
  eventually,
  PRACTICE_ID,
  signalCount,
  startIngestHarness,
  type IngestHarness,
} from './ingest-harness';

/**
 * Which results share a workflow, end to end (real Temporal, worker, PostgreSQL, athena fake):
 * a filler number is unique only within its issuer, so two labs (two HL7 facilities of one practice)
 * sending the same OBR-3 get two workflows; athena's own lab-result ID is one identity whichever way
 * it arrives, so athena's outbound ORU (a facility the registry maps to the `athena` namespace) and an
 * athena webhook for the same lab result land on one workflow.
 */

const ATHENA_FACILITY = 'RIVERSIDE-ATHENA';

function registry() {
  const sandbox = JSON.parse(readFileSync(path.resolve(__dirname, '../../config/practices.sandbox.json'), 'utf8')) as {
    practices: { policy: Record<string, unknown> }[];
  };
  return parsePracticeRegistry({
    practices: [
      {
        policy: sandbox.practices[0]?.policy,
        routing: {
          hl7SendingFacilities: ['EASTLAB', 'WESTLAB'],
          hl7ReviewedFacilities: [ATHENA_FACILITY],
          hl7ResultIdIssuers: { [ATHENA_FACILITY]: ATHENA_RESULT_ID_ISSUER },
          athenaPracticeId: PRACTICE_ID,
        },
      },
    ],
  });
}

function oru(input: { facility: string; controlId: string; obr3: string; patientId: string }): string {
  return [
    `MSH|^~\\&|LIS|${input.facility}|LABLOOP|RIVERSIDE|20261124093000-0500||ORU^R01^ORU_R01|${input.controlId}|P|2.5.1`,
    `PID|1||${input.patientId}^^^RIVERSIDE^MR||Whitfield^Dana||19800402|F`,
    `OBR|1|PLC-${input.controlId}|${input.obr3}|2951-2^Sodium^LN|||20261124081500|||||||||1234567890^Chen^Avery||||||20261124092900-0500|||F`,
    'OBX|1|NM|2951-2^Sodium^LN||140|mmol/L|135-145|N|||F',
  ].join('\r');
}

/** An id-only athena notification, as athena sends it (see sandbox/fakes/athena/webhook-sender.ts). */
function notification(labResultId: string, patientId: string): string {
  return JSON.stringify({
    resourceType: 'Bundle',
    id: randomUUID(),
    type: 'history',
    timestamp: new Date().toISOString(),
    entry: [
      {
        fullUrl: `urn:uuid:${randomUUID()}`,
        resource: {
          resourceType: 'SubscriptionStatus',
          status: 'active',
          type: 'event-notification',
          topic: 'https://athena.example/fhir/r4/SubscriptionTopic/LabResult.create',
          notificationEvent: [
            {
              id: randomUUID(),
              timestamp: new Date().toISOString(),
              focus: {
                identifier: { system: `urn:athenahealth:athenanet:labresult:${PRACTICE_ID}`, value: labResultId },
              },
              additionalContext: [
                {
                  reference: `Patient/a-${PRACTICE_ID}.E-${patientId}`,
                  identifier: { system: `urn:athenahealth:athenanet:patient:${PRACTICE_ID}`, value: patientId },
                },
              ],
            },
          ],
        },
      },
    ],
  });
}

interface JsonAck {
  ack: string;
  duplicate: boolean;
  results: { workflowId: string }[];
}

void describe('result identity, end to end', () => {
  let h: IngestHarness;
  let fake: AthenaFake;
  let patientId: string;

  before(async () => {
    fake = await startAthenaFake({ clientId: ATHENA_CLIENT_ID, clientSecret: ATHENA_CLIENT_SECRET });
    const athena = athenaTestClient(fake.url);
    h = await startIngestHarness({
      label: 'ingest_result_identity',
      practices: registry(),
      athenaWebhookSecret: ATHENA_WEBHOOK_SECRET,
      extraActivities: (base) => athenaIngestActivitiesFor(base, athena),
    });
    patientId = fake.control.addPatient({
      practiceId: PRACTICE_ID,
      firstName: 'Dana',
      lastName: 'Whitfield',
      dob: '1980-04-02',
    }).patientId;
  });
  after(async () => {
    await fake?.close();
    await h?.close();
  });

  const postHl7 = async (body: string): Promise<JsonAck> => {
    const response = await h.built.app.inject({
      method: 'POST',
      url: '/v1/hl7',
      headers: { ...AUTH, 'content-type': 'application/hl7-v2', accept: 'application/json' },
      payload: body,
    });
    assert.equal(response.statusCode, 202, response.body);
    return response.json<JsonAck>();
  };
  const labResultWorkflows = async () => {
    const ids: string[] = [];
    const query = `TaskQueue = "${h.taskQueue}" AND WorkflowType = "${LAB_RESULT_WORKFLOW_TYPE}"`;
    for await (const execution of h.client.workflow.list({ query })) ids.push(execution.workflowId);
    return ids.sort();
  };

  void it('two facilities sending the same OBR-3 produce two workflows', async () => {
    const filler = `ACC-${randomBytes(4).toString('hex')}`;
    const east = await postHl7(oru({ facility: 'EASTLAB', controlId: `E-${filler}`, obr3: filler, patientId }));
    const west = await postHl7(oru({ facility: 'WESTLAB', controlId: `W-${filler}`, obr3: filler, patientId }));
    const [eastId, westId] = [east.results[0]?.workflowId ?? '', west.results[0]?.workflowId ?? ''];
    assert.notEqual(eastId, westId, 'two labs, two results');
    assert.equal(
      eastId,
      workflowIdForResult(h.idSecret, { practiceId: PRACTICE_ID, issuer: 'EASTLAB', resultId: filler }),
    );
    for (const id of [eastId, westId]) assert.equal(await signalCount(h.client, id), 1, id);
  });

  void it('an athena-outbound ORU and an athena webhook for the same labresultid produce one workflow', async () => {
    const labResultId = fake.control.addLabResult({
      practiceId: PRACTICE_ID,
      patientId,
      providerId: '71',
      description: 'Sodium',
      resultstatus: 'Final',
      analytes: [{ analytename: 'Sodium', loinc: '2951-2', value: '140', units: 'mmol/L', referencerange: '135-145' }],
    }).labResultId;
    const expected = workflowIdForResult(h.idSecret, {
      practiceId: PRACTICE_ID,
      issuer: ATHENA_RESULT_ID_ISSUER,
      resultId: labResultId,
    });
    const before = await labResultWorkflows();

    // athena's outbound ORU: OBR-3 is athena's lab-result ID (here with the lab's namespace too,
    // which the registry's mapping of this facility overrides).
    const viaHl7 = await postHl7(
      oru({ facility: ATHENA_FACILITY, controlId: `ATH-${labResultId}`, obr3: `${labResultId}^QUESTLAB`, patientId }),
    );
    assert.deepEqual(
      viaHl7.results.map((r) => r.workflowId),
      [expected],
    );

    const body = notification(labResultId, patientId);
    const webhook = await h.built.app.inject({
      method: 'POST',
      url: '/webhooks/athena',
      headers: {
        'content-type': 'application/fhir+json',
        'x-hub-signature': `sha256=${createHmac('sha256', ATHENA_WEBHOOK_SECRET).update(body).digest('hex')}`,
      },
      payload: body,
    });
    assert.equal(webhook.statusCode, 200, webhook.body);
    assert.equal(webhook.json<{ started: number }>().started, 1);

    // The webhook's event workflow reads the document and hands it to the same workflow.
    await eventually('the athena version on the HL7 result’s workflow', async () =>
      (await signalCount(h.client, expected)) === 2 ? true : undefined,
    );
    const added = (await labResultWorkflows()).filter((id) => !before.includes(id));
    assert.deepEqual(added, [expected], 'one lab-result workflow for both sources');
  });
});

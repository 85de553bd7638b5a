import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/tools';
import type { Stack } from '../../sandbox/stack';
import type { ResultStatusView } from '../../workflows/definitions';
import { eventually, startTestStack } from '../support/stack';

/**
 * The walking skeleton, end to end on real servers: HL7 ORU^R01 over HTTPS → 202 with the workflow
 * ID and status URL → the workflow runs on the worker → the Twilio fake receives one generic SMS
 * with no PHI → the status URL (a workflow query) reports it delivered → the run is visible through
 * the Temporal Web UI → a second POST of the same message starts nothing and sends nothing.
 */
const SAMPLE = readFileSync(path.join(PROJECT_ROOT, 'sandbox/demo/normal-signed.hl7'), 'utf8');
const PATIENT_PHONE = '+16175550123';
const PHI = [
  'Whitfield',
  '1980',
  '0402',
  'Glucose',
  'Creatinine',
  'Potassium',
  '92',
  '0.9',
  'mg/dL',
  '5550123',
  'normal',
];

describe('walking skeleton: a normal, already-signed result reaches the patient as one generic SMS', () => {
  let stack: Stack;
  before(async () => {
    // Quiet hours are the workflow tests' business; here the window is the whole day so the test
    // does not depend on the time it runs.
    stack = await startTestStack({
      withTemporalUi: true,
      policyOverrides: { patientQuietHours: { start: '00:00', end: '00:00' } },
    });
    await stack.pool.query(
      `INSERT INTO sms_consent (practice_id, patient_id, phone_e164, consented, source) VALUES ('195900', 'MRN-500', $1, true, 'staff')`,
      [PATIENT_PHONE],
    );
  });
  after(async () => {
    await stack?.stop();
  });

  // Sent as athena's outbound ORU interface (the sender whose results arrive signed); the lab
  // engine's token may not send as its facility at all.
  const post = (body: string, token = stack.secrets.athenaOruToken) =>
    fetch(`${stack.urls.api}/v1/hl7`, {
      method: 'POST',
      headers: {
        'content-type': 'application/hl7-v2',
        accept: 'application/json',
        authorization: `Bearer ${token}`,
      },
      body,
    });

  let workflowId: string;
  let statusUrl: string;

  it('accepts the ORU with 202, the workflow ID and a status URL', async () => {
    const refused = await post(SAMPLE, stack.secrets.apiToken);
    assert.equal(refused.status, 403, 'the lab engine may not send as athena’s reviewed feed');
    const response = await post(SAMPLE);
    assert.equal(response.status, 202);
    const json = (await response.json()) as {
      ack: string;
      results: { workflowId: string; statusUrl: string }[];
      hl7Ack: string;
    };
    assert.equal(json.ack, 'AA');
    assert.equal(json.results.length, 1);
    workflowId = json.results[0].workflowId;
    statusUrl = json.results[0].statusUrl;
    assert.match(workflowId, /^lab-result-195900-[0-9a-f]{32}$/);
    assert.equal(response.headers.get('location'), statusUrl);
    assert.match(json.hl7Ack, /\rMSA\|AA\|DEMO-N-0001/);
    for (const phi of ['Whitfield', 'MRN-500', 'ACC-7001']) assert.ok(!workflowId.includes(phi));
  });

  it('sends exactly one generic SMS with no PHI through the Twilio fake', async () => {
    const messages = await eventually(
      () => {
        const sent = stack.fakes.twilio.messages().filter((m) => m.to === PATIENT_PHONE);
        return sent.length > 0 ? sent : undefined;
      },
      60_000,
      'the SMS at the Twilio fake',
    );
    assert.equal(messages.length, 1);
    const body = messages[0].body;
    assert.match(body, /your lab results are ready in your patient portal/i);
    for (const phi of PHI) assert.ok(!body.includes(phi), `SMS body must not contain ${phi}`);
  });

  it('reports the SMS delivered at the status URL (answered by a workflow query)', async () => {
    const view = await eventually(
      async () => {
        const response = await fetch(statusUrl, { headers: { authorization: `Bearer ${stack.secrets.apiToken}` } });
        if (response.status !== 200) return undefined;
        const json = (await response.json()) as ResultStatusView;
        return json.deliveries.some((d) => d.channel === 'sms' && d.status === 'delivered') ? json : undefined;
      },
      60_000,
      'a delivered SMS in the status view',
    );
    assert.equal(view.workflowId, workflowId);
    assert.equal(view.signed, true);
    assert.equal(view.acuity, 'normal');
    const serialized = JSON.stringify(view);
    for (const phi of PHI.slice(0, 6)) assert.ok(!serialized.includes(phi), `status view must not contain ${phi}`);
    const unauthenticated = await fetch(statusUrl);
    assert.equal(unauthenticated.status, 401);
  });

  it('shows the run in the Temporal Web UI', async () => {
    assert.ok(stack.urls.temporalUi, 'the stack started the Web UI');
    const ui = await fetch(stack.urls.temporalUi);
    assert.equal(ui.status, 200);
    const api = await eventually(
      async () => {
        const response = await fetch(
          `${stack.urls.temporalUi}/api/v1/namespaces/default/workflows/${encodeURIComponent(workflowId)}`,
        );
        return response.status === 200
          ? ((await response.json()) as { workflowExecutionInfo?: { type?: { name?: string } } })
          : undefined;
      },
      20_000,
      'the workflow through the UI server',
    );
    assert.equal(api.workflowExecutionInfo?.type?.name, 'labResultWorkflow');
  });

  it('treats a second POST of the same message as a duplicate: no new workflow, no second SMS', async () => {
    const response = await post(SAMPLE);
    assert.equal(response.status, 202);
    const json = (await response.json()) as { ack: string; duplicate: boolean; results: { workflowId: string }[] };
    assert.equal(json.ack, 'AA');
    assert.equal(json.duplicate, true);
    assert.deepEqual(
      json.results.map((r) => r.workflowId),
      [workflowId],
    );
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(stack.fakes.twilio.messages().filter((m) => m.to === PATIENT_PHONE).length, 1);
    const runs = stack.temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` });
    let count = 0;
    for await (const _run of runs) count += 1;
    assert.equal(count, 1);
  });
});

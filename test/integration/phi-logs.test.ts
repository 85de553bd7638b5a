import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import { PROJECT_ROOT } from '../../lib/tools';
import type { Stack } from '../../sandbox/stack';
import { signOffUpdate, type ResultStatusView } from '../../workflows/definitions';
import { processLogCapture } from '../support/log-capture';
import {
  describeLeaks,
  fixturePhi,
  notePatterns,
  numericToken,
  personPatterns,
  scanForPhi,
  wordToken,
  type PhiPattern,
} from '../support/phi-scan';
import { eventually, logArtifactFor, startTestStack } from '../support/stack';

/**
 * Logs carry IDs only. The whole loop runs (PostgreSQL, Temporal, the fakes, the worker, the API)
 * with every log line captured at trace level, as for every stack startTestStack starts: labloop's
 * pino output and everything the Temporal SDK logs (workflow and activity loggers, activity
 * failures, forwarded core logs), raw, before any filtering. Where every other end-to-end file only
 * has its stop() search the capture, this one drives the loop through what is most likely to leak. It is driven through a normal result that is texted and delivered, an abnormal and a
 * critical one that providers sign with a note, a patient's free-text reply, a correction, refused
 * bad input of several kinds, status and codec calls. Then every captured line is searched for
 * each name, phone number, date of birth, test name and value of the inputs, in several spellings.
 */

const run = randomBytes(3).toString('hex').toUpperCase();
const TEMPLATES = path.join(PROJECT_ROOT, 'sandbox/demo');

interface Patient {
  mrn: string;
  first: string;
  last: string;
  /** YYYYMMDD */
  dob: string;
  /** 617555xxxx */
  phone10: string;
}

const OTTOLINE: Patient = {
  mrn: 'MRN-Q7781',
  first: 'Ottoline',
  last: 'Quillfeather',
  dob: '19570819',
  phone10: '6175550187',
};
const BARTHOLOMEW: Patient = {
  mrn: 'MRN-OV5521',
  first: 'Bartholomew',
  last: 'Ostrander',
  dob: '19490227',
  phone10: '6175550163',
};
const PERPETUA: Patient = {
  mrn: 'MRN-FH3310',
  first: 'Perpetua',
  last: 'Featherstonehaugh',
  dob: '19610514',
  phone10: '6175550144',
};

/** Values chosen so they cannot be mistaken for timings, ports or counts. */
const VALUES = ['98.37', '1.173', '4.873', '4.917', '263.7', '311.9', '37.61', '6.913'];
const TEST_NAMES = [
  'Glucose',
  'Creatinine',
  'Potassium',
  'Comprehensive metabolic panel',
  'Cholesterol',
  'Triglycerides',
  'HDL cholesterol',
  'Lipid panel',
];
const NOTES = ['bacon sandwiches', 'marmalade', 'rhubarb'];

/** Rewrite a demo message with this test's patient, values and unique identifiers. */
function message(
  template: string,
  replace: Record<string, string>,
  patient: Patient,
  ids: { control: string; accession: string },
): string {
  let text = readFileSync(path.join(TEMPLATES, template), 'utf8');
  const pid =
    /PID\|1\|\|(MRN-\d+)\^[^|]*\|\|([^^|]+)\^([^^|]+)[^|]*\|\|(\d{8})\|[^\r]*\^PRN\^CP\^\^1\^617\^(\d{7})/.exec(text);
  assert.ok(pid !== null, `template ${template} has the expected PID`);
  const [, mrn, last, first, dob, phone7] = pid;
  const swaps: [string, string][] = [
    [mrn, patient.mrn],
    [last, patient.last],
    [first, patient.first],
    [dob, patient.dob],
    [`617^${phone7}`, `617^${patient.phone10.slice(3)}`],
    ...Object.entries(replace),
  ];
  for (const [from, to] of swaps) text = text.split(from).join(to);
  text = text.replace(/\|DEMO-[A-Z]-\d+\|/, `|${ids.control}|`).replace(/ACC-\d+/g, ids.accession);
  return text;
}

/** This file's own PHI (its patients, values, test names and notes), on top of the shared fixtures. */
function phiPatterns(): PhiPattern[] {
  const out: PhiPattern[] = [];
  for (const p of [OTTOLINE, BARTHOLOMEW, PERPETUA])
    out.push(...personPatterns({ firstName: p.first, lastName: p.last, dob: p.dob, phone: p.phone10 }));
  for (const value of VALUES) out.push({ phi: value, kind: 'value', pattern: numericToken(value) });
  for (const name of TEST_NAMES) out.push({ phi: name, kind: 'test-name', pattern: wordToken(name) });
  out.push(...notePatterns(...NOTES));
  return out;
}

describe('PHI in logs: a full run of the loop logs none', () => {
  let stack: Stack;
  // The process's capture, which startTestStack wires every stack into.
  const capture = processLogCapture();
  const statusUrls: string[] = [];
  let sentSms = 0;

  before(async () => {
    // Quiet hours are the workflow tests' business: here the whole day is open, so the run does not
    // depend on the hour it starts.
    stack = await startTestStack({
      policyOverrides: { patientQuietHours: { start: '00:00', end: '00:00' } },
      phi: phiPatterns(),
      extra: { twilioCallbackDelaysMs: { sent: 20, delivered: 40 } },
    });
    await stack.pool.query(
      `INSERT INTO sms_consent (practice_id, patient_id, phone_e164, consented, source) VALUES ('195900', $1, $2, true, 'staff')`,
      [OTTOLINE.mrn, `+1${OTTOLINE.phone10}`],
    );

    const api = stack.urls.api;
    const ingest = { authorization: `Bearer ${stack.secrets.apiToken}` };
    // athena's outbound ORU (MSH-4 RIVERSIDE-ATHENA) is its own sender, whose results arrive signed.
    const tokenFor = (body: string) =>
      body.split('\r')[0]?.split('|')[3] === 'RIVERSIDE-ATHENA' ? stack.secrets.athenaOruToken : stack.secrets.apiToken;
    const postHl7 = async (body: string) => {
      const response = await fetch(`${api}/v1/hl7`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${tokenFor(body)}`,
          'content-type': 'application/hl7-v2',
          accept: 'application/json',
        },
        body,
      });
      return {
        status: response.status,
        json: (await response.json()) as { results: { workflowId: string; statusUrl: string }[] },
      };
    };
    const accepted = async (body: string) => {
      const { status, json } = await postHl7(body);
      assert.equal(status, 202, JSON.stringify(json));
      statusUrls.push(json.results[0].statusUrl);
      return json.results[0].workflowId;
    };

    // 1. A normal result, reviewed at the source, with SMS consent: texted, delivered, reply.
    const normal = message(
      'normal-signed.hl7',
      { '|92|': '|98.37|', '|0.9|': '|1.173|', '|4.1|': '|4.873|' },
      OTTOLINE,
      {
        control: `PHI-N-${run}`,
        accession: `ACC-N-${run}`,
      },
    );
    await accepted(normal);
    const sms = await eventually(
      () => stack.fakes.twilio.messages().find((m) => m.to === `+1${OTTOLINE.phone10}` && m.status === 'delivered'),
      60_000,
      'the generic SMS to be delivered',
    );
    sentSms += 1;
    await stack.fakes.twilio.simulateInbound({
      from: `+1${OTTOLINE.phone10}`,
      to: sms.from ?? '+15005550006',
      body: `Hi, this is ${OTTOLINE.first} ${OTTOLINE.last} (born 1957-08-19). Is my Potassium of 4.873 ok? I ate marmalade.`,
    });
    // A correction of the same result, with a changed value.
    await accepted(
      message(
        'normal-signed.hl7',
        { '|92|': '|98.37|', '|0.9|': '|1.173|', '|4.1|': '|4.917|', '|F\r': '|C\r' },
        OTTOLINE,
        {
          control: `PHI-N2-${run}`,
          accession: `ACC-N-${run}`,
        },
      ),
    );

    // 2. An abnormal and 3. a critical result, signed by providers with a note to the patient.
    const abnormalId = await accepted(
      message('abnormal-unsigned.hl7', { '|262|': '|263.7|', '|310|': '|311.9|', '|38|': '|37.61|' }, BARTHOLOMEW, {
        control: `PHI-A-${run}`,
        accession: `ACC-A-${run}`,
      }),
    );
    const criticalId = await accepted(
      message('critical-unsigned.hl7', { '|6.9|': '|6.913|' }, PERPETUA, {
        control: `PHI-C-${run}`,
        accession: `ACC-C-${run}`,
      }),
    );
    for (const [workflowId, providerId, note] of [
      [
        abnormalId,
        'prov-2',
        `${BARTHOLOMEW.first}, your Cholesterol of 263.7 is high: fewer bacon sandwiches, please.`,
      ],
      [criticalId, 'prov-1', `${PERPETUA.first}, your Potassium of 6.913 needs attention today; avoid rhubarb.`],
    ] as const) {
      await stack.temporal.workflow.getHandle(workflowId).executeUpdate(signOffUpdate, {
        args: [{ providerId, practiceId: '195900', via: 'api', noteToPatient: note }],
      });
    }

    // 4. Bad input of several kinds, all of it carrying PHI, all of it refused.
    const refusedHl7 = [
      normal.replace(/PID\|1\|\|[^|]*\|/, 'PID|1|||'), // no patient identifier
      normal.replace(/OBX\|1\|NM\|/, 'OBX|1|ZZ|'), // unknown value type
      normal.replace(/^MSH\|[^\r]*\r/, ''), // no MSH at all
      `Quillfeather Ottoline 1957-08-19 +16175550187 Potassium 4.873`,
    ];
    for (const body of refusedHl7) assert.notEqual((await postHl7(body)).status, 202);
    const fhir = (body: string) =>
      fetch(`${api}/v1/fhir?practice=195900`, {
        method: 'POST',
        headers: { ...ingest, 'content-type': 'application/fhir+json' },
        body,
      });
    const badReport = {
      resourceType: 'DiagnosticReport',
      status: 'finalized',
      code: { text: 'Lipid panel' },
      subject: { display: 'Ottoline Quillfeather', reference: '#p' },
      contained: [
        {
          resourceType: 'Patient',
          id: 'p',
          name: [{ family: 'Quillfeather', given: ['Ottoline'] }],
          birthDate: '1957-08-19',
          telecom: [{ system: 'phone', value: '(617) 555-0187' }],
        },
      ],
      result: [{ display: 'Glucose 98.37' }],
    };
    assert.equal((await fhir(JSON.stringify(badReport))).status, 400);
    assert.equal((await fhir('{"patient": "Quillfeather, Ottoline", "dob": "08/19/1957", oops')).status, 400);
    const unsigned = await fetch(`${api}/webhooks/twilio/status`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'bad' },
      body: new URLSearchParams({
        MessageSid: `SM${'0'.repeat(32)}`,
        MessageStatus: 'delivered',
        To: '+16175550187',
        Body: 'Quillfeather',
      }),
    });
    assert.equal(unsigned.status, 403);
    assert.equal((await fetch(`${api}/v1/results/Quillfeather-1957-08-19`, { headers: ingest })).status, 400);
    assert.equal((await fetch(`${api}/nowhere/Quillfeather/6175550187`)).status, 404);

    // 5. Status URLs, and an operator decrypting a payload through the codec endpoint.
    for (const url of statusUrls) {
      const view = (await (await fetch(url, { headers: ingest })).json()) as ResultStatusView;
      assert.ok(view.workflowId !== undefined);
    }
    // Plaintext passes through decode, so the request body carries PHI the logs must not show.
    const decoded = await fetch(`${api}/codec/decode`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.secrets.opsToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        payloads: [defaultPayloadConverter.toPayload({ name: 'Ottoline Quillfeather', potassium: '4.873' })].map(
          (p) => ({
            metadata: Object.fromEntries(
              Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]),
            ),
            data: Buffer.from(p.data ?? []).toString('base64'),
          }),
        ),
      }),
    });
    assert.equal(decoded.status, 200);

    // Let the workflows act on the sign-offs (Spruce, pages, call tasks) before stopping.
    await eventually(
      async () => {
        const views = await Promise.all(
          [abnormalId, criticalId].map(async (id) => {
            const response = await fetch(
              statusUrls.find((u) => u.endsWith(id))!,
              { headers: ingest },
            );
            return (await response.json()) as ResultStatusView;
          }),
        );
        return views.every((v) => v.signed && v.actions.length > 1) ? true : undefined;
      },
      30_000,
      'the abnormal and critical workflows to act after sign-off',
    );
    await stack.fakes.twilio.idle();
    await new Promise((resolve) => setTimeout(resolve, 1500));
  });

  after(async () => {
    // Also searches the capture (and fails the file on a leak); the lines are then in
    // test-artifacts/logs/phi-logs.ndjson for reading.
    await stack?.stop();
  });

  it('captured a real run: API, worker and Temporal SDK lines are all there', () => {
    assert.equal(sentSms, 1);
    assert.ok(capture.lines.length > 100, `only ${capture.lines.length} lines captured`);
    assert.ok(capture.find(/"msg":"HL7 message refused"/).length >= 1, 'the refusals were logged');
    assert.ok(capture.find(/"msg":"codec request served"/).length === 1, 'the codec call was logged');
    assert.ok(capture.find(/incoming request/).length > 10, 'request logs present');
    assert.ok(capture.runtimeLines.length > 0, 'Temporal SDK lines captured');
    assert.ok(capture.find(/lab-result-195900-[0-9a-f]{32}/).length > 0, 'workflow IDs are logged (IDs are fine)');
  });

  it('no captured line carries a name, phone number, date of birth, test name, value or note', () => {
    const leaks = scanForPhi(capture.lines, [...phiPatterns(), ...fixturePhi()]);
    assert.equal(leaks.length, 0, `PHI in logs (${logArtifactFor(__filename)}):\n${describeLeaks(leaks)}`);
  });

  it('control: the search does find PHI in a line that has it', () => {
    const line = JSON.stringify({ msg: 'oops', to: '(617) 555-0187', dob: '08/19/1957', v: 'K 4.873 mmol/L' });
    const hits = phiPatterns()
      .filter(({ pattern }) => pattern.test(line))
      .map((p) => p.phi);
    for (const expected of ['(617) 555-0187', '08/19/1957', '4.873']) assert.ok(hits.includes(expected), expected);
    assert.ok(
      !phiPatterns().some(({ pattern }) => pattern.test('{"responseTime":14.8731,"port":4873}')),
      'no false alarm on timings',
    );
  });
});

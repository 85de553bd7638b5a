import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Stack } from '../../sandbox/stack';
import { annotate, signOff } from '../fixtures/e2e/loop';
import { checkCapturedLogs, createLogCapture, logArtifactFor } from '../support/log-capture';
import { dobForms, fixturePhi, hl7Phi, phoneForms, scanForPhi } from '../support/phi-scan';
import { registeredPhi } from '../support/stack';
import { PATIENTS } from '../fixtures/e2e/patients';

/**
 * The PHI search every end-to-end file runs over its logs (test/support/phi-scan.ts) must find PHI
 * when it is there, in the spellings systems use, and must not cry wolf on ordinary log lines.
 */
const who = PATIENTS.consented; // Dana Whitcombe, 1980-04-02, +16175550174

const found = (line: string) => scanForPhi([line], fixturePhi()).map((l) => l.phi);

describe('the PHI search over log lines', () => {
  it('finds a fixture patient by name, phone number in every common spelling, and birth date', () => {
    assert.ok(found(JSON.stringify({ msg: 'sending', patient: 'Whitcombe, Dana' })).includes('Whitcombe'));
    assert.ok(found('{"msg":"x","name":"DANA"}').includes('Dana'), 'any case');
    for (const phone of phoneForms(who.phone)) assert.ok(found(`{"to":"${phone}"}`).length > 0, phone);
    for (const form of ['+16175550174', '(617) 555-0174', '617-555-0174', '617.555.0174', '555-0174'])
      assert.ok(found(`{"msg":"call ${form}"}`).includes(form), form);
    for (const dob of dobForms(who.dob)) assert.ok(found(`{"dob":"${dob}"}`).includes(dob), dob);
    assert.ok(found('born 04/02/1980').includes('04/02/1980'));
    assert.ok(found('born 4/2/1980').includes('4/2/1980'));
    assert.ok(found('{"street":"04 Harbor St"}').includes('04 Harbor St'));
  });

  it('finds test names, codes, values with their units, ranges and interpretations of the fixture results', () => {
    const hits = found('OBX|1|NM|2823-3^Potassium^LN||6.9|mmol/L^^UCUM|3.5-5.1|HH|||F');
    for (const expected of ['Potassium', '2823-3', '|6.9|', '6.9 mmol/L', 'mmol/L', '3.5-5.1'])
      assert.ok(hits.includes(expected), `${expected} in ${hits.join(', ')}`);
    assert.ok(found('{"msg":"value 262 mg/dL"}').includes('262 mg/dL'));
    assert.ok(found('{"note":"Critically high potassium"}').includes('Critically high'));
    assert.ok(found('{"msg":"Critical value called to office."}').length > 0, 'an NTE comment');
    assert.ok(found('{"panel":"Comprehensive metabolic panel"}').includes('Comprehensive metabolic panel'));
    assert.ok(found('{"msg":"HDL cholesterol low"}').includes('HDL cholesterol'));
  });

  it('finds a bare fixture value in a field named for a result value, in JSON, logfmt and key: value text', () => {
    // 6.9 (potassium, mmol/L) and 262 (glucose, mg/dL) are fixture values, short enough to be ordinary numbers elsewhere.
    for (const line of [
      '{"level":30,"msg":"observation","value":"6.9"}',
      '{"level":30,"msg":"observation","value":6.9}',
      '{"msg":"classified","result":262}',
      '{"msg":"classified","resultValue": "262"}',
      '{"msg":"x","obx":{"observationValue":"6.9"}}',
      '{"msg":"x","values":[262,4.1]}',
      'level=info msg=classified value=6.9',
      'analyte_value: 262',
      "{'value': '6.9'}",
    ]) {
      const hits = found(line);
      assert.ok(hits.includes('6.9') || hits.includes('262'), `${line}: ${hits.join(', ')}`);
    }
    // Not a longer number, and not a field of another name.
    for (const line of [
      '{"value":"16.9"}',
      '{"value":6.95}',
      '{"result":2620}',
      '{"value":"6.9e3"}',
      '{"pid":262}',
      '{"labResultId":"262","resultCount":38,"resultRef":"310"}',
    ])
      assert.deepEqual(found(line), [], line);
  });

  it('takes the PHI of any HL7 message (the browser and phi-logs tests bring their own patients)', () => {
    const message = [
      'MSH|^~\\&|LAB|RIVERSIDE|LABLOOP|RIVERSIDE|20261124100000-0500||ORU^R01|X1|P|2.5.1',
      'PID|1||MRN-9^^^R^MR||Zyzzyva^Quintessa^^^^^L||19440101|F|||7 Nowhere Ln^^Smalltown^MA^01999^USA^H||^PRN^CP^^1^508^5550199',
      'OBR|1|P|A|1558-6^Fasting glucose^LN',
      'OBX|1|NM|1558-6^Fasting glucose^LN||131.7|mg/dL^^UCUM|70-99|H',
    ].join('\r');
    const phi = hl7Phi(message);
    const hits = scanForPhi(
      ['{"msg":"x","who":"Quintessa Zyzzyva","tel":"(508) 555-0199","dob":"1944-01-01","v":"131.7"}'],
      phi,
    ).map((l) => l.phi);
    for (const expected of ['Quintessa', 'Zyzzyva', '(508) 555-0199', '1944-01-01', '131.7'])
      assert.ok(hits.includes(expected), `${expected} in ${hits.join(', ')}`);
  });

  it('does not cry wolf on ordinary log lines: timings, ports, counts, IDs, hashes, UUIDs', () => {
    const lines = [
      '{"level":30,"time":1796180205192,"reqId":"req-1","res":{"statusCode":200},"responseTime":14.8731,"msg":"request completed"}',
      '{"msg":"Server listening at http://127.0.0.1:4873"}',
      '{"workflowIds":["lab-result-195900-23a12d841e7dd618a8b3137f6d5e3b1a"],"duplicate":false,"msg":"HL7 results handed off"}',
      '{"source":"temporal-runtime","level":"TRACE","msg":"handling event","meta":{"attempt":1,"runId":"019ad2f3-2823-3a9c-8f5e-0174e2b1c0d9"}}',
      '{"acuity":"critical","state":"awaiting-sign-off","patientId":"7104","count":262,"pid":310}',
      // Temporal's Runtime logger and pino with fixture values as timings, counts and limits.
      '{"source":"temporal-runtime","level":"DEBUG","msg":"Activity completed","meta":{"sdkComponent":"worker","activityType":"sendGenericSms","attempt":1,"durationMs":262,"taskQueue":"e2e-1"}}',
      '{"source":"temporal-runtime","level":"DEBUG","msg":"Workflow completed","meta":{"durationMs":6.9,"numSlots":92,"maximum":38}}',
      '{"source":"temporal-runtime","level":"TRACE","msg":"poll","meta":{"target":"temporalio_sdk_core::pollers","elapsed":"310ms","attempt":"4"}}',
      '{"level":30,"time":1796180205192,"pid":262,"reqId":"req-9","res":{"statusCode":200},"responseTime":6.9,"msg":"request completed"}',
      '{"level":20,"msg":"outbox send recorded","resultRef":"r-1","workflowId":"lab-result-195900-0a1b","attempts":4.1}',
      '{"msg":"Server listening at http://127.0.0.1:310","port":262,"retryAfterSeconds":38}',
    ];
    assert.deepEqual(scanForPhi(lines, fixturePhi()), []);
  });

  it('reads base64: binary tokens are not words, but encoded text is searched like text', () => {
    // A Temporal task token spelling "Mg/Dl" and "Luis" by chance (seen in a trace): binary, no PHI.
    const token =
      'CiQwMWEyMzRkYy0xYzI4LTc4ZjktODVmZS0yMGQ1OTZiZjJkYjYSMmxhYi1yZXN1bHQtMTk1OTAw9DJ6pWgUKSPF5fw/0qtBX4XWZF6LQdjCdlf0SOBP9XdSrLDshpLetSegZxR/JXxnIQoZ4I8UK216AlGvl/87xFuiNIpMcGu7Z6Y/Gt7Nfnh+n5hIN3pvNoh/IUXe+Pf4GBevtD2NXoInpf+msFgj4S1EDQmNg6qQZxDwgCZZe2mANPGaQWHXXfjk3Uq+oB6EPBeQ1lu5Mg/Dl4yAZk5xo9gfNDe0LZvdfzVXpxyBmtKdE4R4g0rH/8c1gDsiishnzBHET6VMR8yCCXpTLuisRNv+Hw9MyNYmWT7Xlte8UW1UJ';
    assert.deepEqual(found(`{"msg":"Got activity task","meta":{"taskToken":"${token}"}}`), []);
    // A payload that was not encrypted: its base64 is searched as the text it is.
    const plain = Buffer.from(
      JSON.stringify({ patient: { lastName: 'Whitcombe', mobilePhone: '6175550174' } }),
    ).toString('base64');
    const hits = found(`{"msg":"payload","data":"${plain}"}`);
    assert.ok(hits.includes('Whitcombe') && hits.includes('6175550174'), hits.join(', '));
    // A URL path is not base64, however long: searched as it is.
    assert.ok(found('{"url":"/v1/results/Whitcombe/19800402/6175550174/x"}').includes('Whitcombe'));
  });

  it("an end-to-end file's note to the patient and annotation join the searched PHI by themselves (loop.ts)", async () => {
    const updates: unknown[] = [];
    const handle = {
      query: async () => ({ version: 1 }),
      executeUpdate: async (_update: unknown, options: { args: unknown[] }) => {
        updates.push(options.args[0]);
        return { annotations: 1 };
      },
    };
    const stack = { temporal: { workflow: { getHandle: () => handle } } } as unknown as Stack;
    const note = 'Zanzibar marmalade may raise your levels.';
    const annotation = 'Quokka discussed at the huddle.';
    const searched = () => scanForPhi([`{"msg":"x","text":"${note}","a":"${annotation}"}`], registeredPhi());
    assert.deepEqual(searched(), [], 'nothing registered yet');
    await signOff(stack, 'lab-result-1', 'prov-1', note);
    await annotate(stack, 'lab-result-1', 'prov-1', annotation);
    assert.equal(updates.length, 2, 'both went to the workflow');
    assert.deepEqual(
      searched().map((l) => [l.kind, l.phi]),
      [
        ['note', note],
        ['note', annotation],
      ],
    );
  });

  it("fails a test file's stop() on a PHI line, and on a capture that saw nothing, writing the lines for reading", () => {
    const file = 'phi-scan-control.test.ts';
    const clean = createLogCapture();
    clean.destination.write('{"level":30,"msg":"request completed","reqId":"req-1"}\n');
    clean.addRuntimeLine('{"source":"temporal-runtime","level":"DEBUG","msg":"Activity completed"}');
    assert.doesNotThrow(() => checkCapturedLogs(clean, file, fixturePhi()));

    const leaky = createLogCapture();
    leaky.destination.write('{"level":30,"msg":"request completed"}\n');
    leaky.destination.write(`{"level":10,"msg":"sms","to":"${who.phone}","greeting":"Hi ${who.firstName}"}\n`);
    leaky.addRuntimeLine('{"source":"temporal-runtime","level":"DEBUG","msg":"Activity completed"}');
    assert.throws(
      () => checkCapturedLogs(leaky, file, fixturePhi()),
      (err: unknown) =>
        err instanceof Error &&
        /^PHI in the logs: \d+ occurrence\(s\) in 1 of 3 captured line\(s\)/.test(err.message) &&
        err.message.includes(`phone "${who.phone}"`) &&
        err.message.includes('name "Dana"'),
    );
    assert.match(readFileSync(logArtifactFor(file), 'utf8'), /"greeting":"Hi Dana"/);

    assert.throws(() => checkCapturedLogs(createLogCapture(), file, fixturePhi()), /the log capture is not wired/);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LabResult } from '../../domain/lab-result';
import { findPhi, guardSmsBody, type PhiFinding } from '../../domain/phi-guard';
import { genericSms } from '../../domain/sms-templates';

const result: Pick<LabResult, 'observations' | 'panelName' | 'panelCode'> = {
  panelName: 'Lipid panel',
  panelCode: '57698-3',
  observations: [
    { code: '13457-7', name: 'LDL cholesterol', value: '187.3', units: 'mg/dL', flag: 'H' },
    { code: 'HCT-LOCAL', name: 'Hematocrit', value: '41', units: '%', flag: 'N' },
    { code: '5196-1', name: 'Hepatitis B surface antigen', value: 'Reactive', flag: 'A' },
  ],
};

const kinds = (findings: PhiFinding[]) => [...new Set(findings.map((f) => f.kind))].sort();
const generic = genericSms('results-ready').body;

describe('PHI guard', () => {
  it('passes the generic templates', () => {
    assert.deepEqual(findPhi(generic, result), []);
    assert.deepEqual(
      findPhi('Hi Dana, your lab results are ready in your patient portal. Reply HELP for help.', result),
      [],
    );
  });

  it('finds test names (whole or by a significant word), codes, values, units and interpretation words', () => {
    assert.deepEqual(kinds(findPhi('Your cholesterol came back', result)), ['test-name']);
    assert.deepEqual(findPhi('about your hematocrit', result), [
      { kind: 'test-name', observation: 1 },
      { kind: 'test-name' },
    ]);
    assert.deepEqual(kinds(findPhi('result 13457-7 is in', result)), ['code']);
    assert.deepEqual(kinds(findPhi('code HCT-LOCAL', result)), ['code']);
    assert.deepEqual(kinds(findPhi('you got 187.3', result)), ['value']);
    assert.deepEqual(findPhi('it was 41 today', result), [{ kind: 'value', observation: 1 }]);
    assert.deepEqual(kinds(findPhi('your test was reactive', result)), ['interpretation', 'value']);
    assert.deepEqual(kinds(findPhi('units mg/dL', result)), ['unit']);
    assert.deepEqual(kinds(findPhi('up to 38 %', result)), ['unit']);
    assert.deepEqual(kinds(findPhi('Your results are HIGH', result)), ['interpretation']);
    assert.deepEqual(kinds(findPhi('everything is normal', result)), ['interpretation']);
    assert.deepEqual(kinds(findPhi('your HIV test', result)), ['test-name']);
    assert.deepEqual(kinds(findPhi('ref 2345-7', result)), ['code']);
    assert.deepEqual(kinds(findPhi('below <5', result)), ['value']);
    assert.deepEqual(kinds(findPhi('value 6.25', result)), ['value']);
  });

  it('respects word boundaries and leaves phone numbers, times and plain integers alone', () => {
    assert.deepEqual(findPhi('please follow up', result), []);
    assert.deepEqual(findPhi('Call 555-0100 for help', result), []);
    assert.deepEqual(findPhi('open 24/7, suite 12', result), []);
    assert.deepEqual(findPhi('Hi Hightower, reply HELP', result), []);
  });

  it('ignores case and runs of whitespace', () => {
    assert.deepEqual(kinds(findPhi('your  ldl   CHOLESTEROL', result)), ['test-name']);
  });

  it('reports kinds and observation indexes only, never the matched text', () => {
    const findings = findPhi('LDL cholesterol 187.3 mg/dL high', result);
    assert.ok(findings.length > 0);
    const text = JSON.stringify(findings);
    for (const secret of ['cholesterol', '187.3', 'mg/dL', 'high'])
      assert.ok(!text.toLowerCase().includes(secret.toLowerCase()));
  });

  it('rewrites a body with findings to the generic body, and blocks when even that matches', () => {
    const rewritten = guardSmsBody('Hi Dana, your cholesterol is 187.3', result, generic);
    assert.equal(rewritten.outcome, 'rewritten');
    assert.equal(rewritten.outcome === 'rewritten' ? rewritten.body : '', generic);
    const clean = guardSmsBody(generic, result, generic);
    assert.deepEqual(clean, { outcome: 'clean', body: generic, findings: [] });
    const odd = { observations: [{ code: 'HELP', name: 'Odd', value: 'x' }] };
    const blocked = guardSmsBody('Hi, HELP', odd, 'Reply HELP for help.');
    assert.equal(blocked.outcome, 'blocked');
  });
});

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseOru } from '../../api/hl7';
import { resultIdentity, workflowIdForResult } from '../../lib/ingest/handoff';
import { parseHl7ForPractice } from '../../api/ingest/hl7-ingest';
import { mapFhirToResults } from '../../api/fhir';
import { parsePracticeRegistry } from '../../lib/practices';
import { ATHENA_RESULT_ID_ISSUER, resultRef } from '../../lib/result-ref';

/**
 * A result's identity is (practice, issuer, result ID): filler numbers are unique only within the
 * lab that assigned them. These pin where the issuer comes from for each source, that it changes the
 * workflow ID, that the registry can put a facility's IDs in athena's namespace, and that athena's
 * namespace kept the workflow IDs it had before issuers were part of the identity.
 */

const SECRET = 'result-identity-test-secret-0123';

function oru(msh4: string, obr: string, pid3 = 'MRN1'): string {
  return [
    `MSH|^~\\&|LAB|${msh4}|LABLOOP|BAY|20240305143000||ORU^R01^ORU_R01|CTL-1|P|2.5.1`,
    `PID|1||${pid3}^^^BAY^MR||Doe^Jane`,
    obr,
    'OBX|1|NM|2345-7^Glucose^LN||90|mg/dL|70-99|N|||F',
  ].join('\r');
}

function issuerOf(text: string): string | undefined {
  const outcome = parseOru(text);
  if (!outcome.ok) assert.fail(outcome.error.message);
  return outcome.results[0]?.resultIdIssuer;
}

function registry(routing: Record<string, unknown>) {
  const sandbox = JSON.parse(readFileSync(path.resolve(__dirname, '../../config/practices.sandbox.json'), 'utf8')) as {
    practices: { policy: Record<string, unknown> }[];
  };
  return parsePracticeRegistry({ practices: [{ policy: sandbox.practices[0]?.policy, routing }] });
}

void describe('result identity: the issuer of an HL7 result ID', () => {
  void it('is OBR-3.2 (namespace ID), else OBR-3.3 (universal ID), else MSH-4', () => {
    assert.equal(issuerOf(oru('EASTLAB', 'OBR|1|PLC-1|ACC-1^QUEST|GLU||||||||||||||||||||F')), 'QUEST');
    assert.equal(
      issuerOf(oru('EASTLAB', 'OBR|1|PLC-1|ACC-1^^2.16.840.1.113883.3.1^ISO|GLU||||||||||||||||||||F')),
      '2.16.840.1.113883.3.1',
    );
    assert.equal(issuerOf(oru('EASTLAB', 'OBR|1|PLC-1|ACC-1|GLU||||||||||||||||||||F')), 'EASTLAB');
  });

  void it('follows the field the ID came from: a placer number (OBR-2) takes OBR-2.2', () => {
    assert.equal(issuerOf(oru('EASTLAB', 'OBR|1|PLC-1^BAYEHR||GLU||||||||||||||||||||F')), 'BAYEHR');
    assert.equal(issuerOf(oru('EASTLAB', 'OBR|1|PLC-1||GLU||||||||||||||||||||F')), 'EASTLAB');
  });

  void it('two facilities sending the same filler number without a namespace are two workflows', () => {
    const practices = registry({ hl7SendingFacilities: ['EASTLAB', 'WESTLAB'] });
    const ids = ['EASTLAB', 'WESTLAB'].map((facility) => {
      const parsed = parseHl7ForPractice(oru(facility, 'OBR|1|PLC-1|ACC-1|GLU||||||||||||||||||||F'), practices);
      if (!parsed.ok) assert.fail(parsed.error.message);
      const [result] = parsed.results;
      assert.ok(result !== undefined);
      assert.equal(result.practiceId, '195900');
      assert.equal(result.resultId, 'ACC-1');
      return workflowIdForResult(SECRET, resultIdentity(result));
    });
    assert.notEqual(ids[0], ids[1]);
  });

  void it('a facility the registry maps to athena puts its filler numbers in athena’s namespace', () => {
    const practices = registry({
      hl7SendingFacilities: ['EASTLAB'],
      hl7ReviewedFacilities: ['RIVERSIDE-ATHENA'],
      hl7ResultIdIssuers: { 'riverside-athena': 'athena' },
      athenaPracticeId: '195900',
    });
    // athena's outbound ORU carries the lab's own namespace in OBR-3.2; the registry still wins.
    const parsed = parseHl7ForPractice(
      oru('RIVERSIDE-ATHENA', 'OBR|1|PLC-1|880104^QUEST|GLU||||||||||||||||||||F'),
      practices,
    );
    if (!parsed.ok) assert.fail(parsed.error.message);
    const [result] = parsed.results;
    assert.equal(result?.resultIdIssuer, ATHENA_RESULT_ID_ISSUER);
    assert.equal(
      workflowIdForResult(SECRET, resultIdentity(result ?? assert.fail('no result'))),
      workflowIdForResult(SECRET, resultIdentity({ source: 'athena', practiceId: '195900', resultId: '880104' })),
    );
  });

  void it('the registry refuses an issuer mapping for a facility the practice does not have', () => {
    assert.throws(
      () => registry({ hl7SendingFacilities: ['EASTLAB'], hl7ResultIdIssuers: { WESTLAB: 'athena' } }),
      /hl7ResultIdIssuers names WESTLAB, which is not one of its HL7 facilities/,
    );
  });
});

void describe('result identity: FHIR', () => {
  const report = (identifier: Record<string, string> | undefined) => ({
    resourceType: 'DiagnosticReport',
    id: 'dr-1',
    status: 'final',
    code: { text: 'Glucose' },
    subject: { identifier: { value: 'MRN1' } },
    ...(identifier === undefined ? {} : { identifier: [identifier] }),
  });
  const issuer = (body: unknown, unqualifiedIssuer?: string) => {
    const outcome = mapFhirToResults(body, {
      practiceIdFor: () => '195900',
      messageIdFallback: 'sha256:0',
      ...(unqualifiedIssuer === undefined ? {} : { unqualifiedIssuer }),
    });
    if (!outcome.ok) assert.fail(JSON.stringify(outcome.problems));
    return outcome.results[0]?.resultIdIssuer;
  };

  void it('is identifier.system; a bare identifier or the logical id belongs to the sender', () => {
    assert.equal(
      issuer(report({ system: 'urn:oid:2.16.840.1.113883.3.9999.2', value: 'FIL-1' })),
      'urn:oid:2.16.840.1.113883.3.9999.2',
    );
    assert.equal(issuer(report({ value: 'FIL-1' }), 'fhir-client:engine'), 'fhir-client:engine');
    assert.equal(issuer(report(undefined), 'fhir-client:engine'), 'fhir-client:engine');
    assert.equal(issuer(report(undefined)), 'fhir');
  });
});

void describe('result identity: the workflow ID', () => {
  const id = (issuer: string, resultId = 'ACC-1', practiceId = '195900') =>
    workflowIdForResult(SECRET, { practiceId, issuer, resultId });

  void it('differs by issuer, and ignores case and blanks in issuer and ID', () => {
    assert.notEqual(id('QUEST'), id('LABCORP'));
    assert.equal(id(' quest '), id('QUEST'));
    assert.equal(id('QUEST', ' acc-1'), id('QUEST', 'ACC-1'));
    assert.notEqual(id('QUEST', 'ACC-1', '195900'), id('QUEST', 'ACC-1', '195901'));
  });

  void it('has no part that an issuer or ID could shift into another (no delimiter ambiguity)', () => {
    assert.notEqual(id('A', 'B\u0000C'), id('A\u0000B', 'C'));
    assert.notEqual(id('A"', 'B'), id('A', '"B'));
  });

  void it('keeps athena’s original derivation, so running athena workflows keep their IDs', () => {
    const legacy = createHmac('sha256', SECRET).update('195900\u0000880104').digest('hex').slice(0, 32);
    assert.equal(resultRef(SECRET, { practiceId: '195900', issuer: 'athena', resultId: '880104' }), legacy);
    assert.equal(id('athena', '880104'), `lab-result-195900-${legacy}`);
    // Any other issuer is a different namespace, even with the same ID.
    assert.notEqual(id('RIVERSIDE-ATHENA', '880104'), id('athena', '880104'));
  });

  void it('carries no PHI: the practice and a fixed-length digest only', () => {
    assert.match(id('QUEST', 'Jane Doe 1984-03-12'), /^lab-result-195900-[0-9a-f]{32}$/);
  });
});

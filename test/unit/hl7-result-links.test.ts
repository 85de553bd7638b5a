import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Observation } from '../../domain/lab-result';
import { parseOru } from '../../api/hl7';
import { hl7LinkKeys, parseHl7ForPractice } from '../../api/ingest/hl7-ingest';
import { sameReportedValues } from '../../lib/ingest/result-links';
import { parsePracticeRegistry } from '../../lib/practices';
import { resultLinkRef, resultRef } from '../../lib/result-ref';

/**
 * What an HL7 result offers for linking to athena's document of the same result (the accession
 * number, the panel's LOINC and the patient), when it offers it, and how two renderings of one
 * result are compared before athena's sign-off may sign the HL7 workflow.
 */

const SECRET = 'result-links-test-secret-0123456';

function oru(obr: string, msh4 = 'NORTHLAB', pid3 = 'MRN1'): string {
  return [
    `MSH|^~\\&|LAB|${msh4}|LABLOOP|BAY|20240305143000||ORU^R01^ORU_R01|CTL-1|P|2.5.1`,
    `PID|1||${pid3}^^^BAY^MR||Doe^Jane`,
    obr,
    'OBX|1|NM|2345-7^Glucose^LN||90|mg/dL|70-99|N|||F',
  ].join('\r');
}

function registry(routing: Record<string, unknown>) {
  const sandbox = JSON.parse(readFileSync(path.resolve(__dirname, '../../config/practices.sandbox.json'), 'utf8')) as {
    practices: { policy: Record<string, unknown> }[];
  };
  return parsePracticeRegistry({ practices: [{ policy: sandbox.practices[0]?.policy, routing }] });
}

const obs = (...values: string[]): Observation[] => values.map((value, i) => ({ code: `C${i}`, name: 'x', value }));

void describe('HL7 order keys for linking', () => {
  void it('take OBR-3.1 as the accession and OBR-4 as the panel LOINC when it is coded LN, or its alternate is', () => {
    const cases: [string, { fillerOrderNumber?: string; panelLoinc?: string }][] = [
      ['OBR|1|PLC-1|ACC-1^QUEST|24323-8^Metabolic panel^LN', { fillerOrderNumber: 'ACC-1', panelLoinc: '24323-8' }],
      ['OBR|1||ACC-2|CMP^Metabolic panel^L^24323-8^CMP^LN', { fillerOrderNumber: 'ACC-2', panelLoinc: '24323-8' }],
      ['OBR|1||ACC-3|CMP^Metabolic panel^L', { fillerOrderNumber: 'ACC-3' }],
      ['OBR|1|PLC-4||24323-8^Metabolic panel^LOINC', { panelLoinc: '24323-8' }],
    ];
    for (const [obr, expected] of cases) {
      const outcome = parseOru(oru(obr));
      assert.ok(outcome.ok, obr);
      assert.deepEqual(outcome.orders, [expected], obr);
      assert.equal(outcome.orders.length, outcome.results.length);
    }
  });

  void it('link keys exist only for a practice on athena, from a facility that sends the lab’s own numbers', () => {
    const text = oru('OBR|1||ACC-9^QUEST|24323-8^Metabolic panel^LN', 'NORTHLAB', '7001');
    const keysWith = (routing: Record<string, unknown>) => {
      const practices = registry(routing);
      const parsed = parseHl7ForPractice(text, practices);
      assert.ok(parsed.ok);
      return hl7LinkKeys(parsed, practices);
    };
    assert.deepEqual(keysWith({ hl7SendingFacilities: ['NORTHLAB'], athenaPracticeId: '195900' }), [
      { accession: 'ACC-9', panelLoinc: '24323-8', patientId: '7001' },
    ]);
    assert.deepEqual(keysWith({ hl7SendingFacilities: ['NORTHLAB'] }), [undefined], 'no athena, nothing to link to');
    assert.deepEqual(
      keysWith({
        hl7SendingFacilities: ['NORTHLAB'],
        athenaPracticeId: '195900',
        hl7ResultIdIssuers: { NORTHLAB: 'athena' },
      }),
      [undefined],
      'a facility carrying athena’s own IDs already shares athena’s identity',
    );
    const localPanel = parseHl7ForPractice(
      oru('OBR|1||ACC-9|CMP^Metabolic panel^L'),
      registry({ hl7SendingFacilities: ['NORTHLAB'], athenaPracticeId: '195900' }),
    );
    assert.ok(localPanel.ok);
    assert.deepEqual(
      hl7LinkKeys(localPanel, registry({ hl7SendingFacilities: ['NORTHLAB'], athenaPracticeId: '195900' })),
      [undefined],
    );
  });

  void it('a link digest depends on every part, ignores case and blanks, and never equals a result reference', () => {
    const key = { accession: 'ACC-1', panelLoinc: '24323-8', patientId: '7001' };
    const ref = resultLinkRef(SECRET, '195900', key);
    assert.match(ref, /^[0-9a-f]{32}$/);
    assert.equal(
      resultLinkRef(SECRET, '195900', { accession: ' acc-1 ', panelLoinc: '24323-8', patientId: '7001' }),
      ref,
    );
    for (const other of [
      { ...key, accession: 'ACC-2' },
      { ...key, panelLoinc: '57698-3' },
      { ...key, patientId: '7002' },
    ])
      assert.notEqual(resultLinkRef(SECRET, '195900', other), ref);
    assert.notEqual(resultLinkRef(SECRET, '195901', key), ref);
    assert.notEqual(resultRef(SECRET, { practiceId: '195900', issuer: 'ACC-1', resultId: '24323-8' }), ref);
  });
});

void describe('two renderings of one result report the same values', () => {
  void it('compares values as a multiset, ignoring case, blanks and number spelling', () => {
    assert.equal(sameReportedValues(obs('92', '0.9', '4.1'), obs('4.10', ' 92 ', '.9')), true);
    assert.equal(sameReportedValues(obs('Negative', '<0.5'), obs('< 0.50', 'NEGATIVE')), true);
    assert.equal(sameReportedValues(obs('92', '0.9'), obs('131', '0.9')), false, 'a corrected value');
    assert.equal(sameReportedValues(obs('92', '0.9'), obs('92')), false, 'a missing observation');
    assert.equal(sameReportedValues(obs('92', '92'), obs('92', '93')), false, 'multiset, not set');
    assert.equal(sameReportedValues([], []), false, 'nothing to compare is never the same');
  });

  void it('is symmetric and order-free', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 6 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.string({ maxLength: 6 }), { maxLength: 6 }),
        (a, b) => {
          assert.equal(sameReportedValues(obs(...a), obs(...b)), sameReportedValues(obs(...b), obs(...a)));
          assert.equal(sameReportedValues(obs(...a), obs(...[...a].reverse())), true);
        },
      ),
    );
  });
});

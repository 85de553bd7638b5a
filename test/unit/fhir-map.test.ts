import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { classifyAcuity } from '../../domain/classification';
import type { LabResult } from '../../domain/lab-result';
import { mapFhirToResults, type FhirProblem, type MapFhirOptions } from '../../api/fhir';

const FIXTURES = path.join(__dirname, '../fixtures/fhir');
const OPTIONS: MapFhirOptions = { practiceIdFor: () => 'bay', messageIdFallback: 'fallback-1' };

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8')) as Record<string, unknown>;
}

function mapped(body: unknown, options: MapFhirOptions = OPTIONS): LabResult[] {
  const outcome = mapFhirToResults(body, options);
  if (!outcome.ok) assert.fail(outcome.problems.map((p) => `${p.path}: ${p.message}`).join('; '));
  return outcome.results;
}

function problems(body: unknown, options: MapFhirOptions = OPTIONS): FhirProblem[] {
  const outcome = mapFhirToResults(body, options);
  if (outcome.ok) assert.fail('expected problems');
  return outcome.problems;
}

/** A small valid report with contained resources, for tests that vary one thing. */
function report(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: 'DiagnosticReport',
    id: 'dr-1',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '2345-7', display: 'Glucose' }] },
    subject: { reference: '#p' },
    result: [{ reference: '#o' }],
    contained: [
      { resourceType: 'Patient', id: 'p', identifier: [{ value: 'MRN1' }] },
      {
        resourceType: 'Observation',
        id: 'o',
        status: 'final',
        code: { coding: [{ code: '2345-7', display: 'Glucose' }] },
        valueQuantity: { value: 90, unit: 'mg/dL' },
      },
    ],
    ...overrides,
  };
}

void describe('mapFhirToResults: a DiagnosticReport with contained resources', () => {
  const [result] = mapped(fixture('diagnostic-report-contained.json'));

  void it('maps the report', () => {
    assert.ok(result !== undefined);
    assert.equal(result.source, 'fhir');
    assert.equal(result.practiceId, 'bay');
    assert.equal(result.resultId, 'FIL-88001', 'identifier[0].value before id');
    assert.equal(result.messageId, '3', 'meta.versionId');
    assert.equal(result.status, 'corrected');
    assert.equal(result.rawStatus, 'corrected');
    assert.equal(result.reportedAt, '2024-03-05T14:29:00-05:00');
    assert.equal(result.panelCode, '58410-2');
    assert.equal(result.panelName, 'CBC panel - Blood by Automated count');
    assert.deepEqual(
      result.orderingProvider,
      { id: '1234567890', name: 'Ellen Carter' },
      'the Practitioner, not the Organization',
    );
    assert.deepEqual(result.comments, ['Corrected: platelet count revised after smear review.']);
  });

  void it('maps the contained patient', () => {
    assert.deepEqual(result?.patient, {
      id: 'MRN100234',
      lastName: 'Testpatient',
      firstName: 'Jane',
      birthDate: '1984-03-12',
      mobilePhone: '+16175550142',
      postalCode: '02143',
      language: 'es',
    });
  });

  void it('maps the observations: quantity, comparator, ranges, interpretation, notes', () => {
    assert.deepEqual(result?.observations, [
      {
        code: '718-7',
        loinc: '718-7',
        name: 'Hemoglobin',
        value: '13.6',
        valueType: 'Quantity',
        units: 'g/dL',
        referenceRange: '12-15.5 g/dL',
        flag: 'N',
        status: 'final',
      },
      {
        code: '777-3',
        loinc: '777-3',
        name: 'Platelets',
        value: '98',
        valueType: 'Quantity',
        units: '10*3/uL',
        referenceRange: '150-400 10*3/uL',
        flag: 'L',
        status: 'final',
        comments: ['Platelet clumps seen.'],
      },
      {
        code: '1988-5',
        loinc: '1988-5',
        name: 'C reactive protein',
        value: '<5',
        valueType: 'Quantity',
        units: 'mg/L',
        referenceRange: '<=10 mg/L',
        status: 'final',
      },
    ]);
    assert.equal(classifyAcuity(result?.observations ?? []), 'abnormal');
  });

  void it('lets unknown fields through (text, extension, category)', () => {
    const body = fixture('diagnostic-report-contained.json');
    assert.ok('extension' in body && 'text' in body);
    assert.equal(mapped({ ...body, somethingNew: { nested: [1, 2, 3] } }).length, 1);
  });
});

void describe('mapFhirToResults: Bundles', () => {
  void it('a searchset: relative, absolute and versioned references; Bundle.id as messageId', () => {
    const [result, ...rest] = mapped(fixture('bundle-searchset.json'));
    assert.equal(rest.length, 0);
    assert.ok(result !== undefined);
    assert.equal(result.resultId, 'dr-8002', 'the id when there is no identifier');
    assert.equal(result.messageId, 'bundle-search-42');
    assert.deepEqual(
      result.observations.map((o) => [o.code, o.value, o.units, o.flag]),
      [
        ['2823-3', '6.8', 'mmol/L', 'HH'],
        ['5778-6', 'Yellow color', undefined, undefined],
        ['Comment', 'Specimen slightly hemolyzed', undefined, undefined],
        ['2093-3', '10-20', 'mg/dL', 'Critical high'],
      ],
    );
    assert.equal(classifyAcuity(result.observations), 'critical');
    assert.deepEqual(result.orderingProvider, { id: 'pr-22', name: 'Ngozi Okafor' });
    assert.equal(result.patient.id, 'MRN200871');
    assert.equal(result.patient.mobilePhone, '+18575550177', 'a phone with no use, not the home one');
    assert.equal(result.patient.language, 'en-US');
  });

  void it('a transaction with urn:uuid references and several reports', () => {
    const results = mapped(fixture('bundle-transaction-urn.json'));
    assert.deepEqual(
      results.map((r) => [r.resultId, r.status, r.rawStatus, r.messageId, classifyAcuity(r.observations)]),
      [
        ['FIL-88006', 'preliminary', 'partial', 'v7', 'critical'],
        ['FIL-88005', 'cancelled', 'entered-in-error', 'fallback-1', 'normal'],
      ],
    );
    assert.equal(results[0]?.patient.id, 'MRN300412');
    assert.equal(results[0]?.patient.birthDate, undefined, 'a partial birthDate is not a date of birth');
  });

  void it('passes each report to practiceIdFor', () => {
    const seen: string[] = [];
    const results = mapped(fixture('bundle-transaction-urn.json'), {
      ...OPTIONS,
      practiceIdFor: (r) => {
        seen.push(r.identifier?.[0]?.value ?? '?');
        return `practice-${seen.length}`;
      },
    });
    assert.deepEqual(seen, ['FIL-88006', 'FIL-88005']);
    assert.deepEqual(
      results.map((r) => r.practiceId),
      ['practice-1', 'practice-2'],
    );
  });
});

void describe('mapFhirToResults: status', () => {
  const expected: [string, string][] = [
    ['registered', 'preliminary'],
    ['partial', 'preliminary'],
    ['preliminary', 'preliminary'],
    ['final', 'final'],
    ['amended', 'corrected'],
    ['corrected', 'corrected'],
    ['appended', 'corrected'],
    ['cancelled', 'cancelled'],
    ['entered-in-error', 'cancelled'],
    ['unknown', 'preliminary'],
  ];
  for (const [fhir, ours] of expected) {
    void it(`${fhir} -> ${ours}`, () => assert.equal(mapped(report({ status: fhir }))[0]?.status, ours));
  }
});

void describe('mapFhirToResults: problems name the path', () => {
  void it('a Bundle with invalid entries', () => {
    assert.deepEqual(problems(fixture('bad-bundle.json')), [
      { path: 'entry[1].resource.valueQuantity.value', message: 'must be a number' },
      {
        path: 'entry[2].resource.status',
        message:
          'must be one of registered, preliminary, final, amended, corrected, cancelled, entered-in-error, unknown',
      },
    ]);
  });

  void it('a report without a subject and with a dangling reference', () => {
    assert.deepEqual(problems(fixture('bad-references.json')), [
      { path: 'entry[0].resource.subject', message: 'missing' },
      {
        path: 'entry[0].resource.result[1]',
        message: 'reference "Observation/missing" does not resolve to an Observation in this message',
      },
    ]);
  });

  void it('a standalone report: DiagnosticReport.subject: missing', () => {
    const { subject: _subject, ...withoutSubject } = report();
    assert.deepEqual(problems(withoutSubject), [{ path: 'DiagnosticReport.subject', message: 'missing' }]);
  });

  void it('a standalone report with a bad status and no code', () => {
    const { code: _code, ...withoutCode } = report({ status: 'done' });
    const found = problems(withoutCode);
    assert.deepEqual(
      found.map((p) => p.path),
      ['DiagnosticReport.status', 'DiagnosticReport.code'],
    );
    assert.match(found[0]?.message ?? '', /^must be one of registered, partial/);
    assert.equal(found[1]?.message, 'missing');
  });

  void it('an invalid contained resource', () => {
    const body = report();
    const contained = body.contained as Record<string, unknown>[];
    contained[1] = { ...contained[1], status: 42 };
    assert.deepEqual(problems(body), [
      {
        path: 'DiagnosticReport.contained[1].status',
        message:
          'must be one of registered, preliminary, final, amended, corrected, cancelled, entered-in-error, unknown',
      },
    ]);
  });

  void it('a subject that points at something other than a Patient', () => {
    assert.deepEqual(problems(report({ subject: { reference: '#o' } })), [
      { path: 'DiagnosticReport.subject', message: 'reference "#o" does not resolve to a Patient in this message' },
    ]);
  });

  void it('a logical subject reference (identifier only) is enough', () => {
    const [result] = mapped(report({ subject: { identifier: { value: 'MRN-LOGICAL' } } }));
    assert.equal(result?.patient.id, 'MRN-LOGICAL');
  });

  void it('a report without identifier or id', () => {
    const { id: _id, ...withoutId } = report();
    assert.deepEqual(problems(withoutId), [
      { path: 'DiagnosticReport.identifier', message: 'missing (and the report has no id)' },
    ]);
  });

  void it('an unknown practice', () => {
    assert.deepEqual(problems(report(), { ...OPTIONS, practiceIdFor: () => undefined }), [
      { path: 'DiagnosticReport', message: 'no practice is configured for this report' },
    ]);
  });

  void it('something that is not a report or a Bundle', () => {
    assert.deepEqual(problems({ resourceType: 'Patient' }), [
      { path: 'resourceType', message: 'must be DiagnosticReport or Bundle' },
    ]);
    for (const body of [null, 'text', 42, [report()]]) {
      assert.equal(problems(body)[0]?.path, 'resourceType');
    }
  });

  void it('a Bundle without any DiagnosticReport', () => {
    assert.deepEqual(problems({ resourceType: 'Bundle', type: 'collection', entry: [] }), [
      { path: 'entry', message: 'holds no DiagnosticReport' },
    ]);
  });

  void it('a Bundle whose entry is not an array', () => {
    assert.deepEqual(problems({ resourceType: 'Bundle', entry: {} }), [{ path: 'entry', message: 'must be an array' }]);
  });
});

void describe('mapFhirToResults: values', () => {
  const withValue = (value: Record<string, unknown>) =>
    mapped(
      report({
        contained: [
          { resourceType: 'Patient', id: 'p', identifier: [{ value: 'MRN1' }] },
          { resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'Thing' }, ...value },
        ],
      }),
    )[0]?.observations[0];

  void it('reads every value[x] we support', () => {
    assert.deepEqual(withValue({ valueQuantity: { value: 5.4, unit: 'mmol/L' } }), {
      code: 'Thing',
      name: 'Thing',
      value: '5.4',
      valueType: 'Quantity',
      units: 'mmol/L',
      status: 'final',
    });
    assert.equal(withValue({ valueQuantity: { value: 5, code: 'mg/L' } })?.units, 'mg/L', 'code when there is no unit');
    assert.equal(withValue({ valueString: 'Negative' })?.value, 'Negative');
    assert.equal(withValue({ valueCodeableConcept: { coding: [{ code: '260385009' }] } })?.value, '260385009');
    assert.equal(
      withValue({ valueCodeableConcept: { text: 'Detected', coding: [{ display: 'x' }] } })?.value,
      'Detected',
    );
    assert.equal(withValue({ valueRange: { low: { value: 1 }, high: { value: 3 } } })?.value, '1-3');
    assert.equal(withValue({ valueRatio: { numerator: { value: 1 }, denominator: { value: 128 } } })?.value, '1:128');
    assert.equal(withValue({ valueInteger: 7 })?.value, '7');
    assert.equal(withValue({ valueBoolean: false })?.value, 'false');
    assert.equal(withValue({})?.value, '', 'no value (e.g. dataAbsentReason) is an empty value');
  });

  void it('joins several interpretation codes so the worst one counts', () => {
    const obs = withValue({
      valueQuantity: { value: 7 },
      interpretation: [{ coding: [{ code: 'H' }] }, { coding: [{ code: 'HH' }] }],
      referenceRange: [{ low: { value: 3.5, unit: 'mmol/L' } }],
    });
    assert.equal(obs?.flag, 'H~HH');
    assert.equal(obs?.referenceRange, '>=3.5 mmol/L');
    assert.equal(classifyAcuity(obs === undefined ? [] : [obs]), 'critical');
  });
});

void describe('mapFhirToResults is total', () => {
  void it('never throws, whatever JSON it is given', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const outcome = mapFhirToResults(value, OPTIONS);
        assert.ok(outcome.ok ? Array.isArray(outcome.results) : outcome.problems.length > 0);
      }),
      { numRuns: 300 },
    );
  });

  void it('never throws on a valid report with random fields replaced', () => {
    const base = fixture('diagnostic-report-contained.json');
    const keys = Object.keys(base);
    fc.assert(
      fc.property(fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 3 }), (key, value) => {
        const outcome = mapFhirToResults({ ...base, [key]: value }, OPTIONS);
        assert.ok(outcome.ok || outcome.problems.every((p) => p.path !== '' && p.message !== ''));
      }),
      { numRuns: 300 },
    );
  });
});

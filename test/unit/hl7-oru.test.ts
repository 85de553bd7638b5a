import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { classifyAcuity } from '../../domain/classification';
import type { LabResult } from '../../domain/lab-result';
import { parseOru, type Hl7Problem, type ParseOutcome } from '../../api/hl7';
import { groupStatus } from '../../api/hl7/status';

const FIXTURES = path.join(__dirname, '../fixtures/hl7');

function fixture(name: string): string {
  return readFileSync(path.join(FIXTURES, name), 'utf8');
}

function parsed(name: string): { header: Extract<ParseOutcome, { ok: true }>['header']; results: LabResult[] } {
  const outcome = parseOru(fixture(name));
  if (!outcome.ok) assert.fail(`${name}: ${outcome.error.message}`);
  return outcome;
}

function only(results: LabResult[]): LabResult {
  assert.equal(results.length, 1);
  const [result] = results;
  assert.ok(result !== undefined);
  return result;
}

function problemOf(text: string, options?: Parameters<typeof parseOru>[1]): Hl7Problem {
  const outcome = parseOru(text, options);
  if (outcome.ok) assert.fail('expected the message to be refused');
  return outcome.error;
}

/** What a refusal must say: the listed fields exactly, and a message matching the pattern. */
type ExpectedProblem = Omit<Partial<Hl7Problem>, 'message'> & { message: RegExp };

/** A minimal valid ORU^R01 whose segments can be replaced one by one. */
function oru(overrides: { msh?: string; pid?: string; obr?: string; obx?: string[]; extra?: string[] } = {}): string {
  return [
    overrides.msh ?? 'MSH|^~\\&|LAB|NORTHLAB|LABLOOP|BAY|20240305143000||ORU^R01^ORU_R01|CTL-1|P|2.5.1',
    overrides.pid ?? 'PID|1||MRN1^^^BAY^MR||Doe^Jane',
    overrides.obr ?? 'OBR|1|PLC-1|FIL-1|2345-7^Glucose^LN||||||||||||||||||||||F',
    ...(overrides.obx ?? ['OBX|1|NM|2345-7^Glucose^LN||90|mg/dL|70-99|N|||F']),
    ...(overrides.extra ?? []),
  ].join('\r');
}

void describe('parseOru: a normal CBC (v2.5.1, CR terminators)', () => {
  const { header, results } = parsed('cbc-normal-final.hl7');
  const result = only(results);

  void it('reads the header', () => {
    assert.equal(header.messageControlId, 'NL-CBC-0001');
    assert.equal(header.messageType, 'ORU');
    assert.equal(header.triggerEvent, 'R01');
    assert.equal(header.messageStructure, 'ORU_R01');
    assert.equal(header.version, '2.5.1');
    assert.equal(header.processingId, 'P');
    assert.equal(header.dateTime, '2024-03-05T14:30:00-05:00');
    assert.deepEqual(header.sendingFacility, {
      namespaceId: 'NORTHLAB',
      universalId: '2.16.840.1.113883.3.9999',
      universalIdType: 'ISO',
    });
    assert.deepEqual(header.receivingApplication, { namespaceId: 'LABLOOP' });
    assert.equal(header.acceptAckType, 'AL');
    assert.equal(header.applicationAckType, 'NE');
    assert.equal(header.fieldSeparator, '|');
    assert.equal(header.encodingCharacters, '^~\\&');
  });

  void it('maps the OBR group to a LabResult', () => {
    assert.equal(result.source, 'hl7');
    assert.equal(result.practiceId, 'NORTHLAB', 'defaults to MSH-4.1');
    assert.equal(result.resultId, 'FIL-88001', 'OBR-3.1, the filler order number');
    assert.equal(result.messageId, 'NL-CBC-0001');
    assert.equal(result.status, 'final');
    assert.equal(result.rawStatus, 'F');
    assert.equal(result.reportedAt, '2024-03-05T14:29:00-05:00');
    assert.equal(result.panelCode, '58410-2');
    assert.equal(result.panelName, 'CBC panel - Blood by Automated count');
    assert.deepEqual(result.orderingProvider, { id: '1234567890', name: 'Ellen Carter' });
    assert.equal(result.comments, undefined);
  });

  void it('maps the patient', () => {
    assert.deepEqual(result.patient, {
      id: 'MRN100234',
      lastName: 'Testpatient',
      firstName: 'Jane',
      birthDate: '1984-03-12',
      postalCode: '02143',
      mobilePhone: '+16175550142',
      language: 'en',
    });
  });

  void it('maps the observations', () => {
    assert.equal(result.observations.length, 5);
    assert.deepEqual(result.observations[0], {
      code: '6690-2',
      loinc: '6690-2',
      name: 'WBC',
      value: '6.4',
      valueType: 'NM',
      units: '10*3/uL',
      referenceRange: '4.0-11.0',
      flag: 'N',
      status: 'F',
    });
    assert.equal(result.observations[1]?.value, '4.52', 'numbers keep their precision');
    assert.equal(result.observations[3]?.units, '%');
    assert.equal(result.observations[4]?.flag, undefined, 'an empty OBX-8 is no flag');
    assert.equal(classifyAcuity(result.observations), 'normal');
  });
});

void describe('parseOru: fixtures', () => {
  void it('CRLF terminators; a CP number in a later repetition; ISO 639-2 language', () => {
    const result = only(parsed('bmp-normal-final-crlf.hl7').results);
    assert.equal(result.observations.length, 8);
    assert.equal(result.patient.mobilePhone, '+18575550177', 'the CP repetition, not the PH one');
    assert.equal(result.patient.language, 'es');
    assert.deepEqual(result.orderingProvider, { id: '2222222222', name: 'Ngozi Okafor' });
  });

  void it('CE values: the text of the coded value (else its alternate text, else its code); the observation keeps its own code and name', () => {
    const result = only(parsed('ce-coded-values.hl7').results);
    assert.equal(result.resultId, 'FIL-91003');
    assert.deepEqual(
      result.observations.map((o) => ({ code: o.code, name: o.name, value: o.value, valueType: o.valueType })),
      [
        { code: '5778-6', name: 'Color of Urine', value: 'Yellow', valueType: 'CE' },
        { code: '32167-9', name: 'Clarity of Urine', value: 'Cloudy', valueType: 'CE' },
        { code: '5802-4', name: 'Nitrite [Presence] in Urine by Test strip', value: 'Negative', valueType: 'CE' },
        { code: '20454-5', name: 'Protein [Presence] in Urine by Test strip', value: 'Trace', valueType: 'CE' },
        { code: '5767-9', name: 'Appearance of Urine', value: 'AMB', valueType: 'CE' },
      ],
    );
    assert.deepEqual(
      result.observations.map((o) => o.flag),
      [undefined, 'A', 'N', 'A', undefined],
    );
    assert.equal(result.observations[1]?.referenceRange, 'CLEAR');
    assert.equal(classifyAcuity(result.observations), 'abnormal');
  });

  void it('LF terminators; H and L flags are abnormal', () => {
    const result = only(parsed('cmp-abnormal-lf.hl7').results);
    assert.deepEqual(
      result.observations.map((o) => o.flag),
      ['H', 'H', 'L', 'H'],
    );
    assert.equal(result.observations[0]?.referenceRange, '<200');
    assert.equal(classifyAcuity(result.observations), 'abnormal');
  });

  void it('HH is critical; an NTE after an OBX belongs to that observation; XTN free text', () => {
    const result = only(parsed('critical-potassium-hh.hl7').results);
    assert.equal(classifyAcuity(result.observations), 'critical');
    assert.deepEqual(result.observations[0]?.comments, [
      'Critical value called to and read back by RN J. Alvarez 02:28.',
    ]);
    assert.equal(result.observations[1]?.comments, undefined);
    assert.equal(result.patient.mobilePhone, '+17815550163');
  });

  void it('LL and AA are critical, one result per OBR group', () => {
    const { results } = parsed('critical-ll-aa.hl7');
    assert.deepEqual(
      results.map((r) => [r.resultId, r.status, classifyAcuity(r.observations)]),
      [
        ['FIL-88005', 'final', 'critical'],
        ['FIL-88006', 'preliminary', 'critical'],
      ],
    );
    assert.equal(results[1]?.observations[0]?.value, 'Gram positive cocci in clusters', 'CWE gives its text');
    assert.deepEqual(results[0]?.patient, results[1]?.patient, 'both groups share the PID');
    assert.notEqual(results[0]?.patient, results[1]?.patient, 'but not one object');
  });

  void it('preliminary, corrected and cancelled results', () => {
    const preliminary = only(parsed('preliminary.hl7').results);
    assert.equal(preliminary.status, 'preliminary');
    assert.equal(preliminary.rawStatus, 'P');
    assert.equal(preliminary.observations[0]?.value, 'Culture in progress, further report to follow');

    const corrected = only(parsed('corrected.hl7').results);
    assert.equal(corrected.status, 'corrected');
    assert.deepEqual(corrected.comments, ['Corrected report: platelet count revised after smear review.']);
    assert.equal(corrected.resultId, 'FIL-88001', 'same result as the original CBC');
    assert.equal(corrected.messageId, 'NL-COR-0007', 'a new version of it');

    const cancelled = only(parsed('cancelled.hl7').results);
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(cancelled.rawStatus, 'X');
  });

  void it('derives the status from OBX-11 when OBR-25 is empty (v2.4, MSH-9 without structure)', () => {
    const { header, results } = parsed('status-from-obx.hl7');
    assert.equal(header.version, '2.4');
    assert.equal(header.messageStructure, '');
    assert.deepEqual(
      results.map((r) => [r.resultId, r.status, r.rawStatus]),
      [
        ['FIL-89001', 'final', undefined],
        ['FIL-89002', 'corrected', undefined],
        ['FIL-89003', 'preliminary', undefined],
        ['FIL-89004', 'cancelled', undefined],
      ],
    );
    assert.equal(results[2]?.observations[0]?.value, '', 'a pending observation has no value yet');
  });

  void it('several OBR groups: ORC-12 when OBR-16 is empty, OBR-2 when OBR-3 is empty', () => {
    const { results } = parsed('multi-obr.hl7');
    assert.deepEqual(
      results.map((r) => [r.resultId, r.orderingProvider?.id, r.panelCode]),
      [
        ['FIL-90001', '1234567890', '58410-2'],
        ['FIL-90002', '4444444444', '3016-3'],
        ['PLC-6003', '5555555555', '2132-9'],
      ],
    );
  });

  void it('NTEs: after OBR are result comments, after OBX observation comments, patient notes ignored', () => {
    const result = only(parsed('notes.hl7').results);
    assert.deepEqual(result.comments, [
      'Fasting specimen.',
      'Reviewed by lab director.\nSecond line of the same note.',
    ]);
    assert.deepEqual(result.observations[0]?.comments, [
      'Borderline; repeat in 6 months.',
      'Method changed 2024-01-01.',
    ]);
    assert.equal(result.observations[1]?.comments, undefined);
  });

  void it('SN values keep comparator, range and ratio', () => {
    const result = only(parsed('sn-values.hl7').results);
    assert.deepEqual(
      result.observations.map((o) => o.value),
      ['<5', '10-20', '>=100', '1:128', '7', '6.5'],
    );
    assert.ok(result.observations.every((o) => o.valueType === 'SN'));
  });

  void it('escape sequences in identifiers, names and values', () => {
    const result = only(parsed('escapes.hl7').results);
    assert.equal(result.patient.id, 'MRN500&77');
    assert.equal(result.patient.lastName, 'O^Brien');
    assert.equal(result.patient.firstName, 'Siobhán');
    assert.deepEqual(
      result.observations.map((o) => o.value),
      [
        'A|B',
        'A^B',
        'A&B',
        'A~B',
        'C:\\temp',
        'Line one\nLine two',
        'IMPORTANT read this',
        'Temp 37°C, CR',
        'café',
        'keep \\Zlocal\\ as is',
        'a\\b',
        'R&D lab \\ co',
      ],
    );
  });

  void it('non-standard encoding characters from MSH-1/MSH-2', () => {
    const { header, results } = parsed('custom-encoding.hl7');
    assert.equal(header.fieldSeparator, '!');
    assert.equal(header.encodingCharacters, '@*$%');
    const result = only(results);
    assert.equal(result.patient.id, 'MRN600100');
    assert.equal(result.patient.lastName, 'Unusual');
    assert.equal(result.patient.postalCode, '02110');
    assert.equal(result.patient.mobilePhone, '+16175550188');
    assert.equal(result.panelName, 'Glucose random');
    assert.equal(result.orderingProvider?.id, '7777777777');
    assert.deepEqual(result.observations[0], {
      code: '2339-0',
      loinc: '2339-0',
      name: 'Glucose',
      value: '182',
      valueType: 'NM',
      units: 'mg/dL',
      referenceRange: '70-139',
      flag: 'H~A',
      status: 'F',
    });
    assert.equal(result.observations[1]?.value, '100% sure: a|b^c~d \\ e ! @ * $');
    assert.equal(result.observations[2]?.units, '%');
  });

  void it('v2.3: free-text phone with no equipment type, ORC-12 provider, DTM without zone', () => {
    const { header, results } = parsed('v23-basic.hl7');
    assert.equal(header.version, '2.3');
    const result = only(results);
    assert.equal(result.patient.id, '44556677');
    assert.equal(result.patient.mobilePhone, '+16175550170');
    assert.equal(result.patient.language, undefined, '"E" is not a language code we can map');
    assert.equal(result.reportedAt, '2004-03-05T14:20:00');
    assert.deepEqual(result.orderingProvider, { id: '9999', name: 'Gary Whitfield' });
    assert.equal(result.observations[1]?.value, 'Specimen slightly lipemic');
  });

  void it('ED: a short placeholder, never the base64', () => {
    const result = only(parsed('ed-pdf.hl7').results);
    assert.deepEqual(
      result.observations.map((o) => o.value),
      ['[embedded application/pdf]', '[embedded image/jpeg]'],
    );
    const json = JSON.stringify(result);
    assert.ok(!json.includes('JVBERi0'), 'PDF base64 leaked');
    assert.ok(!json.includes('/9j/4AAQ'), 'JPEG base64 leaked');
  });

  void it('BOM, a leading blank line, mixed CR/LF/CRLF and trailing blank lines', () => {
    const { header, results } = parsed('mixed-terminators.hl7');
    assert.equal(header.version, '2.5');
    assert.equal(only(results).observations[0]?.value, '95');
  });
});

void describe('parseOru: refusals name the segment and field', () => {
  const expectations: [string, ExpectedProblem][] = [
    [
      'bad-no-pid3.hl7',
      {
        ackCode: 'AE',
        errorCode: 101,
        segment: 'PID',
        sequence: 1,
        field: 3,
        message: /^PID-3 \(patient identifier list\) is missing$/,
      },
    ],
    ['bad-no-obr.hl7', { ackCode: 'AE', errorCode: 100, segment: 'OBR', message: /OBR segment is missing/ }],
    [
      'bad-obx-before-obr.hl7',
      { ackCode: 'AE', errorCode: 100, segment: 'OBX', sequence: 1, message: /OBX at line 3/ },
    ],
    [
      'bad-adt-a01.hl7',
      { ackCode: 'AR', errorCode: 200, segment: 'MSH', field: 9, message: /MSH-9 \(message type\) "ADT\^A01"/ },
    ],
    ['bad-garbage.hl7', { ackCode: 'AR', errorCode: 100, segment: 'MSH', message: /MSH segment is missing/ }],
    ['bad-truncated-msh.hl7', { ackCode: 'AR', errorCode: 101, segment: 'MSH', field: 9, message: /MSH-9/ }],
    ['bad-version.hl7', { ackCode: 'AR', errorCode: 203, segment: 'MSH', field: 12, message: /MSH-12 .*"2\.6"/ }],
  ];
  for (const [file, expected] of expectations) {
    void it(file, () => {
      const problem = problemOf(fixture(file));
      const { message, ...fields } = expected;
      assert.match(problem.message, message);
      assert.deepEqual(Object.fromEntries(Object.keys(fields).map((k) => [k, problem[k as keyof Hl7Problem]])), fields);
    });
  }

  void it('returns the header when MSH was readable, so the ACK can echo MSH-10', () => {
    const outcome = parseOru(fixture('bad-no-pid3.hl7'));
    assert.equal(outcome.ok, false);
    assert.equal(outcome.header?.messageControlId, 'NL-BAD-0001');
    const garbage = parseOru(fixture('bad-garbage.hl7'));
    assert.equal(garbage.ok ? 'ok' : garbage.header, undefined);
  });

  const inline: [string, string, ExpectedProblem][] = [
    [
      'unsupported trigger',
      oru({ msh: 'MSH|^~\\&|LAB|NORTHLAB|LABLOOP|BAY|20240305||ORU^R03|CTL-1|P|2.5.1' }),
      { ackCode: 'AR', errorCode: 201, field: 9, component: 2, message: /MSH-9\.2/ },
    ],
    [
      'missing MSH-9',
      oru({ msh: 'MSH|^~\\&|LAB|NORTHLAB|LABLOOP|BAY|20240305|||CTL-1|P|2.5.1' }),
      { ackCode: 'AR', errorCode: 101, field: 9, message: /MSH-9 \(message type\) is missing/ },
    ],
    [
      'missing MSH-12',
      oru({ msh: 'MSH|^~\\&|LAB|NORTHLAB|LABLOOP|BAY|20240305||ORU^R01|CTL-1|P' }),
      { ackCode: 'AR', errorCode: 101, field: 12, message: /MSH-12/ },
    ],
    [
      'unknown processing ID',
      oru({ msh: 'MSH|^~\\&|LAB|NORTHLAB|LABLOOP|BAY|20240305||ORU^R01|CTL-1|X|2.5.1' }),
      { ackCode: 'AR', errorCode: 202, field: 11, message: /MSH-11/ },
    ],
    [
      'missing MSH-10',
      oru({ msh: 'MSH|^~\\&|LAB|NORTHLAB|LABLOOP|BAY|20240305||ORU^R01||P|2.5.1' }),
      { ackCode: 'AE', errorCode: 101, field: 10, message: /MSH-10/ },
    ],
    [
      'missing MSH-4 (no practice)',
      oru({ msh: 'MSH|^~\\&|LAB||LABLOOP|BAY|20240305||ORU^R01|CTL-1|P|2.5.1' }),
      { ackCode: 'AR', errorCode: 101, field: 4, message: /MSH-4/ },
    ],
    [
      'invalid encoding characters',
      'MSH|^^\\&|LAB|NORTHLAB|LABLOOP|BAY|20240305||ORU^R01|CTL-1|P|2.5.1',
      { ackCode: 'AR', errorCode: 102, segment: 'MSH', field: 2, message: /MSH-2/ },
    ],
    [
      'MSH without a field separator',
      'MSH',
      { ackCode: 'AR', errorCode: 101, segment: 'MSH', field: 1, message: /MSH-1/ },
    ],
    ['empty text', '  \r\n', { ackCode: 'AR', errorCode: 100, segment: 'MSH', message: /empty/ }],
    [
      'a line that is not a segment',
      oru({ extra: ['this line is a stray piece of text'] }),
      {
        ackCode: 'AE',
        errorCode: 100,
        segment: 'OBX',
        sequence: 1,
        message: /line 5 is not an HL7 segment .*; it follows OBX at line 4/,
      },
    ],
    [
      'a second MSH',
      oru({ extra: ['MSH|^~\\&|LAB|NORTHLAB|LABLOOP|BAY|20240305||ORU^R01|CTL-2|P|2.5.1'] }),
      { ackCode: 'AE', errorCode: 100, segment: 'MSH', sequence: 2, message: /second message/ },
    ],
    [
      'OBR before any PID',
      oru({ pid: 'PV1|1|O' }),
      { ackCode: 'AE', errorCode: 100, segment: 'PID', message: /PID segment is missing/ },
    ],
    [
      'no PID and no OBR',
      ['MSH|^~\\&|LAB|NORTHLAB|LABLOOP|BAY|20240305||ORU^R01|CTL-1|P|2.5.1', 'PV1|1|O'].join('\r'),
      { ackCode: 'AE', errorCode: 100, segment: 'PID', message: /PID and OBR segments are missing/ },
    ],
    [
      'OBR-3 and OBR-2 both empty',
      oru({ obr: 'OBR|1|||2345-7^Glucose^LN' }),
      { ackCode: 'AE', errorCode: 101, segment: 'OBR', sequence: 1, field: 3, message: /OBR-3 .*OBR-2/ },
    ],
    [
      'OBX-3 missing in the second OBX',
      oru({ obx: ['OBX|1|NM|2345-7^Glucose^LN||90|mg/dL', 'OBX|2|NM|||91|mg/dL'] }),
      { ackCode: 'AE', errorCode: 101, segment: 'OBX', sequence: 2, field: 3, message: /OBX-3/ },
    ],
  ];
  for (const [name, text, expected] of inline) {
    void it(name, () => {
      const problem = problemOf(text);
      const { message, ...fields } = expected;
      assert.match(problem.message, message);
      assert.deepEqual(Object.fromEntries(Object.keys(fields).map((k) => [k, problem[k as keyof Hl7Problem]])), fields);
    });

    void describe('parseOru: fields routing does not need are warnings, not refusals (issue 13 §6)', () => {
      void it('PID-7 196203520 (the HL7 normative example) is accepted without a birth date, with a W naming PID-7', () => {
        const parsed = parseOru(oru({ pid: 'PID|1||MRN1||Doe^Jane||196203520' }));
        assert.ok(parsed.ok);
        assert.equal(parsed.results[0]?.patient.birthDate, undefined);
        assert.equal(parsed.results[0]?.patient.id, 'MRN1', 'the rest of the patient is read');
        assert.equal(parsed.warnings.length, 1);
        const [warning] = parsed.warnings;
        assert.deepEqual([warning?.segment, warning?.sequence, warning?.field, warning?.errorCode], ['PID', 1, 7, 102]);
        assert.match(
          warning?.message ?? '',
          /^PID-7 (?!.*1962).*\(expected YYYYMMDD\): ignored$/,
          'the value is not echoed',
        );
      });

      void it('an invalid OBR-22 is accepted without a report time, with a W naming OBR-22', () => {
        const parsed = parseOru(oru({ obr: 'OBR|1||FIL-1|2345-7^Glucose^LN||||||||||||||||||2024-03-05|||F' }));
        assert.ok(parsed.ok);
        assert.equal(parsed.results[0]?.reportedAt, undefined);
        assert.deepEqual(
          parsed.warnings.map((w) => [w.segment, w.field]),
          [['OBR', 22]],
        );
      });

      void it('a clean message has no warnings', () => {
        const parsed = parseOru(oru({}));
        assert.ok(parsed.ok);
        assert.deepEqual(parsed.warnings, []);
      });
    });
  }
});

void describe('parseOru: field rules', () => {
  void it('prefers the MR identifier when PID-3 repeats', () => {
    const outcome = parseOru(oru({ pid: 'PID|1||999-00-1234^^^SSA^SS~MRN77^^^BAY^MR' }));
    assert.equal(outcome.ok && outcome.results[0]?.patient.id, 'MRN77');
  });

  void it('takes the first PID-3 repetition when none is MR', () => {
    const outcome = parseOru(oru({ pid: 'PID|1||~PI-5^^^BAY^PI~PI-6^^^BAY^PI' }));
    assert.equal(outcome.ok && outcome.results[0]?.patient.id, 'PI-5');
  });

  void it('prefers the legal name (XPN-7 L)', () => {
    const outcome = parseOru(oru({ pid: 'PID|1||MRN1||Nick^Jay^^^^^N~Doe^Jane^^^^^L' }));
    assert.equal(outcome.ok && outcome.results[0]?.patient.lastName, 'Doe');
  });

  void it('does not treat a PH, FX or work number as a mobile', () => {
    const outcome = parseOru(oru({ pid: 'PID|1||MRN1||Doe^Jane|||||||^PRN^PH^^1^617^5550100|^WPN^PH^^1^617^5550101' }));
    assert.equal(outcome.ok && outcome.results[0]?.patient.mobilePhone, undefined);
  });

  void it('ignores an invalid phone number rather than refusing the result', () => {
    const outcome = parseOru(oru({ pid: 'PID|1||MRN1||Doe^Jane|||||||555-1234^PRN^CP' }));
    assert.ok(outcome.ok);
    assert.equal(outcome.results[0]?.patient.mobilePhone, undefined);
  });

  void it('keeps a partial date of birth out of birthDate without refusing', () => {
    const outcome = parseOru(oru({ pid: 'PID|1||MRN1||Doe^Jane||1984' }));
    assert.ok(outcome.ok);
    assert.equal(outcome.results[0]?.patient.birthDate, undefined);
  });

  void it('joins OBX-5 repetitions and OBX-8 repetitions', () => {
    const outcome = parseOru(oru({ obx: ['OBX|1|CWE|5778-6^Color^LN||Y^Yellow^L~C^Cloudy^L~~|||H~~HH|||F'] }));
    assert.ok(outcome.ok);
    assert.equal(outcome.results[0]?.observations[0]?.value, 'Yellow, Cloudy');
    assert.equal(outcome.results[0]?.observations[0]?.flag, 'H~HH');
    assert.equal(classifyAcuity(outcome.results[0]?.observations ?? []), 'critical');
  });

  void it('reads TS/DT values as ISO and keeps unparseable ones as sent', () => {
    const outcome = parseOru(
      oru({
        obx: [
          'OBX|1|TS|X1^Collected^L||20240305143000-0500',
          'OBX|2|DT|X2^Due^L||20240401',
          'OBX|3|DTM|X3^Odd^L||soon',
        ],
      }),
    );
    assert.ok(outcome.ok);
    assert.deepEqual(
      outcome.results[0]?.observations.map((o) => o.value),
      ['2024-03-05T14:30:00-05:00', '2024-04-01', 'soon'],
    );
  });

  void it('uses practiceIdFor for the practice and refuses an unknown facility with AR', () => {
    const seen: string[] = [];
    const outcome = parseOru(oru(), {
      practiceIdFor: (header) => {
        seen.push(header.sendingFacility.namespaceId);
        return 'practice-bay';
      },
    });
    assert.ok(outcome.ok);
    assert.equal(outcome.results[0]?.practiceId, 'practice-bay');
    assert.deepEqual(seen, ['NORTHLAB']);

    const problem = problemOf(oru(), { practiceIdFor: () => undefined });
    assert.deepEqual([problem.ackCode, problem.errorCode, problem.segment, problem.field], ['AR', 103, 'MSH', 4]);
  });

  void it('accepts every supported version and no other', () => {
    for (const version of ['2.3', '2.3.1', '2.4', '2.5', '2.5.1']) {
      const outcome = parseOru(oru({ msh: `MSH|^~\\&|LAB|NORTHLAB|LABLOOP|BAY|20240305||ORU^R01|CTL-1|P|${version}` }));
      assert.ok(outcome.ok, version);
    }
    for (const version of ['2.2', '2.6', '2.7', '2.5.2', '3']) {
      const problem = problemOf(
        oru({ msh: `MSH|^~\\&|LAB|NORTHLAB|LABLOOP|BAY|20240305||ORU^R01|CTL-1|P|${version}` }),
      );
      assert.equal(problem.errorCode, 203, version);
    }
  });

  void it('skips segments it does not use (SFT, PV1, TQ1, SPM, Z-segments)', () => {
    const outcome = parseOru(
      [
        'MSH|^~\\&|LAB|NORTHLAB|LABLOOP|BAY|20240305||ORU^R01|CTL-1|P|2.5.1',
        'SFT|Vendor|1.0',
        'PID|1||MRN1^^^BAY^MR||Doe^Jane',
        'PV1|1|O',
        'ZPI|custom|stuff',
        'OBR|1||FIL-1|2345-7^Glucose^LN||||||||||||||||||||||F',
        'TQ1|1',
        'OBX|1|NM|2345-7^Glucose^LN||90|mg/dL',
        'SPM|1|||BLD',
      ].join('\r'),
    );
    assert.ok(outcome.ok);
    assert.equal(outcome.results[0]?.observations.length, 1);
  });

  void it('gives the same answer for CR, LF and CRLF terminators', () => {
    const cr = parseOru(fixture('cbc-normal-final.hl7'));
    assert.deepEqual(parseOru(fixture('cbc-normal-final.hl7').replace(/\r/g, '\n')), cr);
    assert.deepEqual(parseOru(fixture('cbc-normal-final.hl7').replace(/\r/g, '\r\n')), cr);
  });
});

void describe('groupStatus', () => {
  const obx = (...codes: (string | undefined)[]) => codes.map((status) => (status === undefined ? {} : { status }));
  const cases: [string, { status?: string }[], string][] = [
    ['F', obx('P'), 'final'],
    ['C', obx('F'), 'corrected'],
    ['X', obx('F'), 'cancelled'],
    ['P', obx('F'), 'preliminary'],
    ['', obx('F', 'F'), 'final'],
    ['', obx('F', 'U'), 'final'],
    ['', obx('F', 'C'), 'corrected'],
    ['', obx('P', 'C'), 'corrected'],
    ['', obx('F', 'P'), 'preliminary'],
    ['', obx('F', 'I'), 'preliminary'],
    ['', obx('F', 'R'), 'preliminary'],
    ['', obx('F', 'S'), 'preliminary'],
    ['', obx('F', undefined), 'preliminary'],
    ['', obx('F', 'Q'), 'preliminary'],
    ['', obx('X', 'D', 'W'), 'cancelled'],
    ['', obx('F', 'X'), 'final'],
    ['', [], 'preliminary'],
  ];
  for (const [obr25, observations, expected] of cases) {
    void it(`OBR-25 ${JSON.stringify(obr25)} with OBX-11 ${JSON.stringify(observations.map((o) => o.status ?? null))} -> ${expected}`, () =>
      assert.equal(groupStatus(obr25, observations), expected));
  }
});

void describe('parseOru: OBR groups that repeat one filler order number', () => {
  const twoPanels = (secondStatus: string, secondPid?: string) =>
    oru({
      extra: [
        ...(secondPid !== undefined ? [secondPid] : []),
        `OBR|2|PLC-1|FIL-1|2951-2^Sodium^LN||||||||||||||||||||||${secondStatus}`,
        'NTE|1||Second panel of the same order',
        `OBX|1|NM|2951-2^Sodium^LN||140|mmol/L|135-145|N|||${secondStatus}`,
      ],
    });

  void it('are one result holding every group’s observations and comments (nothing ignored)', () => {
    const outcome = parseOru(twoPanels('F'));
    if (!outcome.ok) assert.fail(outcome.error.message);
    const result = only(outcome.results);
    assert.equal(result.resultId, 'FIL-1');
    assert.deepEqual(
      result.observations.map((o) => o.code),
      ['2345-7', '2951-2'],
    );
    assert.deepEqual(result.comments, ['Second panel of the same order']);
  });

  void it('are refused, naming the repeated OBR-3, when their statuses differ', () => {
    const problem = problemOf(twoPanels('P'));
    assert.equal(problem.ackCode, 'AE');
    assert.equal(problem.errorCode, 205);
    assert.equal(problem.segment, 'OBR');
    assert.equal(problem.sequence, 2);
    assert.equal(problem.field, 3);
    assert.match(problem.message, /another result status/);
  });

  void it('are refused when they belong to different patients', () => {
    const problem = problemOf(twoPanels('F', 'PID|2||MRN2^^^BAY^MR||Roe^Richard'));
    assert.equal(problem.errorCode, 205);
    assert.match(problem.message, /another patient/);
  });
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  ABNORMAL_FLAGS,
  classifyAcuity,
  CRITICAL_FLAGS,
  describeAcuityReason,
  FLAG_CODES,
  flagAcuity,
  interpretFlag,
  InvalidFlagMappingError,
  isDuplicateResultStatus,
  isKnownResultStatus,
  loweredCriticalFlags,
  maxAcuity,
  NORMAL_FLAGS,
  normaliseResultStatus,
  RESULT_STATUS_CODES,
} from '../../domain/classification';
import type { Acuity, ResultStatus } from '../../domain/lab-result';
import { parsePracticeRegistry } from '../../lib/practices';
import { PROJECT_ROOT } from '../../lib/tools';

/**
 * Table-driven: every code is listed here with the answer we expect, written out independently of
 * the module's own tables, so a change to a verdict must be made in two places on purpose.
 */

const EXPECTED_CODES: Record<Acuity, string[]> = {
  critical: ['LL', 'HH', 'AA'],
  abnormal: [
    // table 0078 v2.5.1
    'L',
    'H',
    '<',
    '>',
    'A',
    'U',
    'D',
    'B',
    'W',
    'S',
    'R',
    'I',
    'MS',
    'VS',
    // later table 0078 and FHIR v3 ObservationInterpretation
    'POS',
    'DET',
    'IND',
    'E',
    'RR',
    'WR',
    'AC',
    'TOX',
    'QCF',
    'IE',
    'HU',
    'LU',
    'H>',
    'L<',
    'HX',
    'LX',
    'EX',
    'NS',
    'SDD',
    'NCL',
    'SYN-R',
    'SYN-S',
    'CAR',
    'CARRIER',
    'UNE',
    'OBX',
  ],
  normal: ['N', 'NEG', 'ND', 'NR', 'EXP'],
};

void describe('flag codes (HL7 table 0078, FHIR ObservationInterpretation)', () => {
  for (const [acuity, codes] of Object.entries(EXPECTED_CODES) as [Acuity, string[]][]) {
    for (const code of codes) {
      void it(`${code} is ${acuity}`, () => {
        assert.equal(flagAcuity(code), acuity);
        assert.equal(flagAcuity(code.toLowerCase()), acuity, 'case-insensitive');
        assert.equal(flagAcuity(` ${code}\t`), acuity, 'whitespace-insensitive');
        assert.deepEqual(interpretFlag(code), { acuity, rule: 'code', matched: code });
      });
    }
  }

  void it('the module knows exactly these codes, and its sets partition them', () => {
    const expectedAll = Object.values(EXPECTED_CODES).flat().sort();
    assert.deepEqual(Object.keys(FLAG_CODES).sort(), expectedAll);
    assert.deepEqual([...CRITICAL_FLAGS].sort(), [...EXPECTED_CODES.critical].sort());
    assert.deepEqual([...ABNORMAL_FLAGS].sort(), [...EXPECTED_CODES.abnormal].sort());
    assert.deepEqual([...NORMAL_FLAGS].sort(), [...EXPECTED_CODES.normal].sort());
  });

  void it('every code documents its meaning', () => {
    for (const [code, rule] of Object.entries(FLAG_CODES)) assert.ok(rule.meaning.length > 3, code);
  });
});

void describe('text flags (athenahealth abnormalflag, FHIR displays)', () => {
  const table: [string, Acuity][] = [
    ['NORMAL', 'normal'],
    ['Normal', 'normal'],
    ['negative', 'normal'],
    ['Not Detected', 'normal'],
    ['NON-REACTIVE', 'normal'],
    ['nonreactive', 'normal'],
    ['within  normal   limits', 'normal'],
    ['expected', 'normal'],
    ['ABNORMAL', 'abnormal'],
    ['High', 'abnormal'],
    ['low', 'abnormal'],
    ['ABOVE HIGH NORMAL', 'abnormal'],
    ['below low normal', 'abnormal'],
    ['Positive', 'abnormal'],
    ['DETECTED', 'abnormal'],
    ['Reactive', 'abnormal'],
    ['Equivocal', 'abnormal'],
    ['CRITICAL', 'critical'],
    ['CRITICAL HIGH', 'critical'],
    ['Critical Low', 'critical'],
    ['critical  abnormal', 'critical'],
    ['VERY ABNORMAL', 'critical'],
    ['PANIC HIGH', 'critical'],
    ['panic low', 'critical'],
    ['ALERT HIGH', 'critical'],
    ['ALERT LOW', 'critical'],
    ['ABOVE UPPER PANIC LIMITS', 'critical'],
    ['BELOW LOWER PANIC LIMITS', 'critical'],
  ];
  for (const [text, acuity] of table) {
    void it(`"${text}" is ${acuity}`, () => assert.equal(flagAcuity(text), acuity));
  }

  void it('a critical word anywhere in free text is critical, and its text is not echoed', () => {
    assert.deepEqual(interpretFlag('CRITICAL - called to Dr at 14:05'), { acuity: 'critical', rule: 'keyword' });
    assert.equal(flagAcuity('Panic value'), 'critical');
    assert.equal(flagAcuity('critically elevated'), 'critical');
  });
});

void describe('empty, unknown, repeated and coded flags', () => {
  void it('absent or blank flags are normal', () => {
    for (const flag of [undefined, '', '   ', '~', ' ~ ']) assert.equal(flagAcuity(flag), 'normal', String(flag));
    assert.deepEqual(interpretFlag(undefined), { acuity: 'normal', rule: 'none' });
  });

  void it('an unknown flag is never normal', () => {
    for (const flag of ['XYZ', '?', '*', 'ABN', 'H*', 'NN', 'N N', 'NORMALISH', 'NEGATIVE?', '0', 'null', '-']) {
      assert.equal(flagAcuity(flag), 'abnormal', flag);
      assert.deepEqual(interpretFlag(flag), { acuity: 'abnormal', rule: 'unrecognised' }, 'no echo of free text');
    }
  });

  void it('a repeating field takes its worst repetition', () => {
    assert.equal(flagAcuity('H~HH'), 'critical');
    assert.equal(flagAcuity('HH~H'), 'critical');
    assert.equal(flagAcuity('N~H'), 'abnormal');
    assert.equal(flagAcuity('N~NEG'), 'normal');
    assert.equal(flagAcuity('N~'), 'normal');
    assert.equal(flagAcuity('N~???'), 'abnormal');
    assert.deepEqual(interpretFlag('H~HH~L'), { acuity: 'critical', rule: 'code', matched: 'HH' });
  });

  void it('a coded value (CWE) is judged on its code and text components', () => {
    assert.equal(flagAcuity('HH^Critical high^HL70078'), 'critical');
    assert.equal(flagAcuity('H^High^HL70078'), 'abnormal');
    assert.equal(flagAcuity('N^Normal^HL70078'), 'normal');
    assert.equal(flagAcuity('^Critical high'), 'critical');
    assert.equal(flagAcuity('N^Critical^L'), 'critical', 'the worst recognised component wins');
    assert.equal(flagAcuity('N^Within range (local)^L'), 'normal', 'a recognised code outweighs unknown text');
    assert.equal(flagAcuity('ZZ^Odd local text^L'), 'abnormal');
    assert.equal(flagAcuity('^^HL70078'), 'normal', 'nothing in the code or text components');
    assert.equal(flagAcuity('L^Low^HL70078~HH^Critical high^HL70078'), 'critical');
  });
});

void describe('configured mappings override the defaults', () => {
  void it("a practice mapping '<' to critical (drchrono's panic low) works, and '>' keeps its default", () => {
    const mapping = { '<': 'critical', '>': 'critical' } as const;
    assert.equal(flagAcuity('<', mapping), 'critical');
    assert.equal(flagAcuity('<'), 'abnormal');
    assert.equal(classifyAcuity([{ flag: 'N' }, { flag: '<' }], { '<': 'critical' }), 'critical');
    assert.equal(flagAcuity('>', { '<': 'critical' }), 'abnormal');
  });

  void it('a mapping may lower a non-critical default, and keys match regardless of case and spacing', () => {
    assert.equal(flagAcuity('H', { h: 'normal' }), 'normal');
    assert.equal(flagAcuity('Within Range', { ' WITHIN  RANGE ': 'normal' }), 'normal');
    assert.deepEqual(interpretFlag('h', { H: 'normal' }), { acuity: 'normal', rule: 'mapping', matched: 'H' });
  });

  void it('a mapping never lowers a critical flag: the default verdict stands', () => {
    assert.deepEqual(interpretFlag('hh', { HH: 'abnormal' }), { acuity: 'critical', rule: 'code', matched: 'HH' });
    assert.equal(flagAcuity('LL', { 'HL7:LL': 'normal' }, 'hl7'), 'critical');
    assert.equal(flagAcuity('AA', { AA: 'normal' }), 'critical');
    assert.equal(flagAcuity('Critical High', { 'ATHENA:CRITICAL HIGH': 'abnormal' }, 'athena'), 'critical');
    assert.equal(flagAcuity('CRITICAL - CALLED', { 'critical - called': 'normal' }), 'critical', 'a critical word');
    assert.equal(flagAcuity('HH^^HL70078', { 'HH^^HL70078': 'normal' }), 'critical', 'a whole coded value');
    assert.equal(flagAcuity('H~HH', { HH: 'abnormal', H: 'normal' }), 'critical', 'inside a repetition');
    assert.equal(classifyAcuity([{ flag: 'N' }, { flag: 'HH' }], { HH: 'normal' }), 'critical');
  });

  void it('the registry check names each mapping that would lower a critical flag, and nothing else', () => {
    assert.deepEqual(
      loweredCriticalFlags({
        HH: 'abnormal',
        'ATHENA:Critical Low': 'normal',
        'hl7:AA': 'abnormal',
        'PANIC VALUE': 'normal',
        LL: 'critical',
        H: 'normal',
        '<': 'critical',
        'XYZ:HH': 'normal',
      }),
      [
        { key: 'HH', mappedTo: 'abnormal' },
        { key: 'ATHENA:Critical Low', mappedTo: 'normal' },
        { key: 'hl7:AA', mappedTo: 'abnormal' },
        { key: 'PANIC VALUE', mappedTo: 'normal' },
      ],
    );
  });

  void it('the practice registry refuses a mapping that lowers a critical flag, naming the practice and the flag', () => {
    const registry = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'config/practices.sandbox.json'), 'utf8')) as {
      practices: { policy: { practiceId: string; flagMappings?: Record<string, string> } }[];
    };
    assert.ok(parsePracticeRegistry(registry).policy(registry.practices[0].policy.practiceId), 'the sandbox loads');
    const bad = structuredClone(registry);
    bad.practices[0].policy.flagMappings = { '<': 'critical', HH: 'abnormal' };
    const id = bad.practices[0].policy.practiceId;
    assert.throws(
      () => parsePracticeRegistry(bad, 'test registry'),
      (err: unknown) =>
        err instanceof Error &&
        err.message.startsWith('test registry is invalid:') &&
        err.message.includes(`practice ${id} maps the critical flag "HH" to abnormal`) &&
        !err.message.includes('"<"'),
    );
    bad.practices[0].policy.flagMappings = { 'hh^local': 'normal' };
    assert.throws(
      () => parsePracticeRegistry(bad),
      /maps the critical flag "hh\^local" to normal/,
      'a coded panic flag',
    );
    bad.practices[0].policy.flagMappings = { 'XH^local': 'normal', HH: 'critical' };
    assert.doesNotThrow(() => parsePracticeRegistry(bad), 'no panic code in it: a mapping may lower it');
  });

  void it('a source-qualified key applies to that source only, and beats the plain key', () => {
    const mapping = { 'ATHENA:HIGH': 'critical', HIGH: 'abnormal', 'hl7:<': 'critical' } as const;
    assert.equal(flagAcuity('High', mapping, 'athena'), 'critical');
    assert.equal(flagAcuity('High', mapping, 'fhir'), 'abnormal');
    assert.equal(flagAcuity('High', mapping), 'abnormal');
    assert.equal(flagAcuity('<', mapping, 'hl7'), 'critical');
    assert.equal(flagAcuity('<', mapping, 'athena'), 'abnormal');
  });

  void it('mappings apply inside repeated and coded flags', () => {
    assert.equal(flagAcuity('N~<', { '<': 'critical' }), 'critical');
    assert.equal(flagAcuity('<^Below scale^L', { '<': 'critical' }), 'critical');
    assert.equal(flagAcuity('X^Y^Z', { 'X^Y^Z': 'normal' }), 'normal', 'a whole coded value can be mapped');
  });

  void it('a mapping value that is not an acuity is a named error', () => {
    const bad = { H: 'urgent' } as unknown as Record<string, Acuity>;
    assert.throws(() => flagAcuity('H', bad), InvalidFlagMappingError);
    assert.throws(() => classifyAcuity([], bad), /flag mapping "H" must be one of normal, abnormal, critical/);
  });
});

void describe('classifyAcuity and describeAcuityReason', () => {
  void it('the result is its worst observation', () => {
    assert.equal(classifyAcuity([]), 'normal');
    assert.equal(classifyAcuity([{}, { flag: '' }, { flag: 'N' }]), 'normal');
    assert.equal(classifyAcuity([{ flag: 'N' }, { flag: 'H' }, { flag: 'NEG' }]), 'abnormal');
    assert.equal(classifyAcuity([{ flag: 'H' }, { flag: 'LL' }, { flag: 'N' }]), 'critical');
  });

  void it('maxAcuity orders normal < abnormal < critical', () => {
    assert.equal(maxAcuity('normal', 'abnormal'), 'abnormal');
    assert.equal(maxAcuity('critical', 'abnormal'), 'critical');
    assert.equal(maxAcuity('normal', 'normal'), 'normal');
  });

  void it('names the observations and rules that drove the acuity, never values', () => {
    const observations = [
      { flag: 'N' },
      { flag: 'H~HH' },
      { flag: 'CRITICAL - K 6.9 called' },
      { flag: 'L' },
      { flag: 'odd local flag' },
    ];
    const reason = describeAcuityReason(observations);
    assert.deepEqual(reason, {
      acuity: 'critical',
      drivers: [
        { index: 1, acuity: 'critical', rule: 'code', matched: 'HH' },
        { index: 2, acuity: 'critical', rule: 'keyword' },
      ],
      unrecognised: [4],
    });
    assert.ok(!JSON.stringify(reason).includes('6.9'));
    assert.equal(reason.acuity, classifyAcuity(observations));
  });

  void it('reports mapping drivers, and no drivers for a normal result', () => {
    assert.deepEqual(describeAcuityReason([{ flag: '<' }], { '<': 'critical' }), {
      acuity: 'critical',
      drivers: [{ index: 0, acuity: 'critical', rule: 'mapping', matched: '<' }],
      unrecognised: [],
    });
    assert.deepEqual(describeAcuityReason([{ flag: 'N' }, {}]), { acuity: 'normal', drivers: [], unrecognised: [] });
  });
});

void describe('result status', () => {
  const table: [string, ResultStatus][] = [
    // HL7 table 0123 (OBR-25)
    ['O', 'preliminary'],
    ['I', 'preliminary'],
    ['S', 'preliminary'],
    ['A', 'preliminary'],
    ['P', 'preliminary'],
    ['C', 'corrected'],
    ['R', 'preliminary'],
    ['F', 'final'],
    ['X', 'cancelled'],
    ['Y', 'preliminary'],
    ['Z', 'preliminary'],
    ['M', 'preliminary'],
    ['N', 'preliminary'],
    // HL7 table 0085 (OBX-11), letters not in 0123
    ['D', 'cancelled'],
    ['U', 'final'],
    ['W', 'cancelled'],
    // FHIR DiagnosticReport.status / Observation.status
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
    // athenahealth free-text resultstatus
    ['abnormal', 'final'],
    ['cancelled', 'cancelled'],
    ['complete', 'final'],
    ['corrected', 'corrected'],
    ['duplicate', 'preliminary'],
    ['final', 'final'],
    ['incomplete', 'preliminary'],
    ['intermediate', 'preliminary'],
    ['partial', 'preliminary'],
    ['pending', 'preliminary'],
    ['preliminary', 'preliminary'],
    ['signed', 'final'],
    ['signedoff', 'final'],
    // spelling and spacing variants
    ['Signed Off', 'final'],
    ['signed-off', 'final'],
    ['  FINAL  ', 'final'],
    ['Final', 'final'],
    ['Canceled', 'cancelled'],
    ['Entered In Error', 'cancelled'],
    ['completed', 'final'],
    ['deleted', 'cancelled'],
    [' f ', 'final'],
  ];
  for (const [raw, status] of table) {
    void it(`${JSON.stringify(raw)} is ${status}`, () => {
      assert.equal(normaliseResultStatus(raw), status);
      assert.equal(isKnownResultStatus(raw), true);
    });
  }

  void it('unknown or absent statuses are preliminary (never announced, never a retraction) and reported as unknown', () => {
    for (const raw of [undefined, '', 'Q', 'resulted?', 'FF', 'verified-ish']) {
      assert.equal(normaliseResultStatus(raw), 'preliminary');
      assert.equal(isKnownResultStatus(raw), false, String(raw));
    }
  });

  void it("athena's duplicate is recognised so ingestion can link or drop it", () => {
    assert.equal(isDuplicateResultStatus('Duplicate'), true);
    assert.equal(isDuplicateResultStatus(' DUPLICATE '), true);
    assert.equal(isDuplicateResultStatus('final'), false);
    assert.equal(isDuplicateResultStatus(undefined), false);
  });

  void it('every status code documents its meaning under a normalised key', () => {
    for (const [code, rule] of Object.entries(RESULT_STATUS_CODES)) {
      assert.ok(rule.meaning.length > 3, code);
      assert.match(code, /^[A-Z0-9]+$/, 'keys are normalised');
    }
  });
});

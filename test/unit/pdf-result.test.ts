import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { LabResult } from '../../domain/lab-result';
import { renderResultPdf, toWinAnsi } from '../../lib/pdf';

/**
 * The result PDF, rendered uncompressed so its text can be read back from the content streams:
 * pdfkit writes each line as a TJ array of hex strings in WinAnsi (Windows-1252) encoding.
 */

/** Windows-1252 bytes 0x80–0x9F (undefined ones kept as C1 controls); the rest is Latin-1. */
const CP1252_80_9F = '€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008dŽ\u008f\u0090‘’“”•–—˜™š›œ\u009džŸ';
const winAnsi = {
  decode: (bytes: Buffer): string =>
    [...bytes].map((b) => (b >= 0x80 && b <= 0x9f ? CP1252_80_9F[b - 0x80] : String.fromCharCode(b))).join(''),
};

/** Every line of text drawn in the PDF, in drawing order. */
function pdfLines(pdf: Buffer): string[] {
  const source = pdf.toString('latin1');
  const lines: string[] = [];
  for (const match of source.matchAll(/\[((?:<[0-9a-fA-F]*>|\s|-?\d+(?:\.\d+)?)*)\]\s*TJ/g)) {
    const hex = [...(match[1] ?? '').matchAll(/<([0-9a-fA-F]*)>/g)].map((m) => m[1]).join('');
    lines.push(winAnsi.decode(Buffer.from(hex, 'hex')));
  }
  return lines;
}

function pageCount(pdf: Buffer): number {
  return pdf.toString('latin1').match(/\/Type \/Page\b(?!s)/g)?.length ?? 0;
}

function infoDictionary(pdf: Buffer): string {
  const source = pdf.toString('latin1');
  const ref = /\/Info (\d+) 0 R/.exec(source)?.[1];
  assert.ok(ref, 'the trailer names an Info dictionary');
  const dict = new RegExp(`\\n${ref} 0 obj\\n([\\s\\S]*?)endobj`).exec(source)?.[1] ?? '';
  // resolve indirect string objects the Info dictionary points at
  return dict.replace(
    /(\d+) 0 R/g,
    (_, n: string) => new RegExp(`\\n${n} 0 obj\\n([\\s\\S]*?)\\nendobj`).exec(source)?.[1] ?? '',
  );
}

const RESULT: LabResult = {
  source: 'hl7',
  practiceId: 'riverside',
  resultId: 'F-100234',
  messageId: 'MSG-1',
  status: 'final',
  reportedAt: '2024-05-01T10:00:00Z',
  panelName: 'Basic metabolic panel',
  patient: { id: 'MRN-1', firstName: 'Zoë', lastName: 'Quimby', birthDate: '1980-02-03' },
  orderingProvider: { id: 'dr-1', name: 'Dr. Jane Smith' },
  observations: [
    { code: '2951-2', name: 'Sodium', value: '139', units: 'mmol/L', referenceRange: '135-145', flag: 'N' },
    {
      code: '2823-3',
      name: 'Potassium',
      value: '6.9',
      units: 'mmol/L',
      referenceRange: '3.5-5.1',
      flag: 'HH',
      comments: ['Repeat confirmed.'],
    },
    { code: '2345-7', name: 'Glucose', value: '128', units: 'mg/dL', referenceRange: '≤ 99', flag: 'H' },
  ],
  comments: ['Specimen slightly hemolysed.'],
};

const BASE = {
  result: RESULT,
  practiceName: 'Riverside Family Medicine',
  providerNote: 'Please come in tomorrow to repeat the potassium.',
  generatedAt: '2024-05-02T08:30:00Z',
  compress: false,
};

describe('result PDF', () => {
  it('shows practice, patient, DOB, every test with value/units/range/flag, comments and the note', async () => {
    const pdf = await renderResultPdf(BASE);
    assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
    const lines = pdfLines(pdf);
    const text = lines.join('\n');
    for (const expected of [
      'Riverside Family Medicine',
      'Zoë Quimby',
      '1980-02-03',
      'Basic metabolic panel',
      'Dr. Jane Smith',
      'Sodium',
      '139',
      'mmol/L',
      '135-145',
      'Potassium',
      '6.9',
      '3.5-5.1',
      'Glucose',
      '128',
      'mg/dL',
      '<= 99',
      'Repeat confirmed.',
      'Specimen slightly hemolysed.',
      'Please come in tomorrow to repeat the potassium.',
    ]) {
      assert.ok(text.includes(expected), `PDF should contain ${JSON.stringify(expected)}`);
    }
    // flags are written out in words, by acuity
    assert.ok(lines.includes('CRITICAL (HH)'), 'critical potassium is marked CRITICAL');
    assert.ok(lines.includes('ABNORMAL (H)'), 'high glucose is marked ABNORMAL');
    assert.ok(!text.includes('ABNORMAL (N)') && !lines.includes('N'), 'a normal flag is not marked');
    assert.ok(text.includes('Page 1 of 1'));
  });

  it('uses the practice flag mapping, so the marks agree with the classification', async () => {
    const result: LabResult = {
      ...RESULT,
      observations: [{ code: 'x', name: 'Troponin', value: '2.1', units: 'ng/mL', flag: 'XH' }],
    };
    const withoutMapping = pdfLines(await renderResultPdf({ ...BASE, result }));
    const withMapping = pdfLines(await renderResultPdf({ ...BASE, result, flagMappings: { XH: 'critical' } }));
    assert.ok(withoutMapping.includes('ABNORMAL (XH)'), 'an unrecognised flag is at least abnormal');
    assert.ok(withMapping.includes('CRITICAL (XH)'));
  });

  it('is deterministic: the same input gives the same bytes, compressed or not', async () => {
    assert.ok((await renderResultPdf(BASE)).equals(await renderResultPdf(BASE)));
    const { compress: _ignored, ...compressed } = BASE;
    const a = await renderResultPdf(compressed);
    const b = await renderResultPdf(compressed);
    assert.ok(a.equals(b));
    assert.ok(a.length < (await renderResultPdf(BASE)).length, 'compression is on by default');
    assert.match(a.toString('latin1'), /\/CreationDate/);
    assert.match(infoDictionary(a), /D:20240502083000Z/);
  });

  it('different inputs give different bytes', async () => {
    const reference = await renderResultPdf(BASE);
    const variants = [
      { ...BASE, providerNote: 'Another note.' },
      { ...BASE, generatedAt: '2024-05-02T08:30:01Z' },
      { ...BASE, practiceName: 'Hillside Clinic' },
      {
        ...BASE,
        result: { ...RESULT, observations: RESULT.observations.map((o, i) => (i === 0 ? { ...o, value: '140' } : o)) },
      },
      { ...BASE, result: { ...RESULT, patient: { ...RESULT.patient, birthDate: '1980-02-04' } } },
    ];
    for (const variant of variants) assert.ok(!(await renderResultPdf(variant)).equals(reference));
  });

  it('keeps PHI out of the document info (title, author, subject are visible in any viewer)', async () => {
    const info = infoDictionary(await renderResultPdf(BASE));
    assert.match(info, /Laboratory result/);
    for (const phi of ['Zo', 'Quimby', '1980', 'Potassium', '6.9', 'MRN-1'])
      assert.ok(!info.includes(phi), `info must not contain ${phi}`);
  });

  it('flows a long result over several pages, repeating the table header', async () => {
    const observations = Array.from({ length: 60 }, (_, i) => ({
      code: `c${i}`,
      name: `Analyte ${i}`,
      value: String(i),
      units: 'U/L',
    }));
    const pdf = await renderResultPdf({ ...BASE, result: { ...RESULT, observations } });
    const lines = pdfLines(pdf);
    const pages = pageCount(pdf);
    assert.ok(pages >= 2, `expected several pages, got ${pages}`);
    assert.equal(lines.filter((l) => l === 'Reference range').length, pages, 'one table header per page');
    assert.ok(lines.includes('Analyte 59'));
    assert.ok(lines.some((l) => l.includes(`Page ${pages} of ${pages}`)));
  });

  it('renders a result without observations, comments or note', async () => {
    const result: LabResult = { ...RESULT, observations: [], comments: undefined, panelName: undefined };
    const lines = pdfLines(
      await renderResultPdf({ result, practiceName: 'Clinic', generatedAt: '2024-05-02T08:30:00Z', compress: false }),
    );
    assert.ok(lines.includes('No individual test values were reported.'));
    assert.ok(!lines.includes('Note from your provider'));
  });

  it('refuses unusable input with an error naming the field', async () => {
    await assert.rejects(
      renderResultPdf({ ...BASE, generatedAt: 'yesterday' }),
      /generatedAt must be an ISO-8601 timestamp/,
    );
    await assert.rejects(renderResultPdf({ ...BASE, practiceName: '  ' }), /practiceName is required/);
  });

  it('never writes characters WinAnsi cannot show (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
        const out = toWinAnsi(s);
        for (const ch of out) {
          const code = ch.codePointAt(0) ?? 0;
          assert.ok(ch === '\n' || code >= 0x20, `control character ${code} in ${JSON.stringify(out)}`);
          // a round trip through Windows-1252 gives the character back
          assert.equal(winAnsi.decode(Buffer.from([cp1252Byte(ch)])), ch);
        }
      }),
    );
    assert.equal(toWinAnsi('≥ 5 and ≤ 10, 李 😀'), '>= 5 and <= 10, ? ?');
    assert.equal(toWinAnsi('€ µ ± Zoë “q”'), '€ µ ± Zoë “q”');
  });
});

/** The Windows-1252 byte of a character `toWinAnsi` may emit. */
function cp1252Byte(ch: string): number {
  const code = ch.codePointAt(0) ?? 0;
  if (code <= 0x7f || (code >= 0xa0 && code <= 0xff)) return code;
  const index = CP1252_80_9F.indexOf(ch);
  if (index >= 0 && ch.codePointAt(0)! > 0xff) return 0x80 + index;
  assert.fail(`${JSON.stringify(ch)} has no Windows-1252 byte`);
}

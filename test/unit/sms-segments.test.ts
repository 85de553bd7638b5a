import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { smsEncoding, smsSegments } from '../../lib/sms/segments';

/** Segment counting as carriers do it (GSM 03.38 / UCS-2, single and concatenated limits). */

const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXTENSION = '\f^{}\\[~]|€';

describe('smsSegments', () => {
  it('has the whole GSM 03.38 basic table (128 code points less ESC) and the 10 extension characters', () => {
    assert.equal([...new Set(GSM_BASIC)].length, 127);
    for (const ch of GSM_BASIC) assert.equal(smsSegments(ch).units, 1, `basic ${JSON.stringify(ch)} is one septet`);
    for (const ch of GSM_EXTENSION)
      assert.equal(smsSegments(ch).units, 2, `extension ${JSON.stringify(ch)} is two septets`);
    assert.equal(smsEncoding(GSM_BASIC + GSM_EXTENSION), 'GSM-7');
  });

  it('exactly 160 GSM characters are one segment; 161 are two', () => {
    assert.deepEqual(smsSegments('a'.repeat(160)), { encoding: 'GSM-7', segments: 1, characters: 160, units: 160 });
    assert.deepEqual(smsSegments('a'.repeat(161)), { encoding: 'GSM-7', segments: 2, characters: 161, units: 161 });
  });

  it('concatenated GSM parts hold 153 septets: 306 → 2, 307 → 3', () => {
    assert.equal(smsSegments('a'.repeat(306)).segments, 2);
    assert.equal(smsSegments('a'.repeat(307)).segments, 3);
  });

  it('€ (and every extension character) costs two septets', () => {
    assert.deepEqual(smsSegments('€'), { encoding: 'GSM-7', segments: 1, characters: 1, units: 2 });
    assert.equal(smsSegments('€'.repeat(80)).segments, 1); // 160 septets
    assert.equal(smsSegments(`${'€'.repeat(80)}a`).segments, 2); // 161 septets
  });

  it('never splits an escape sequence across parts', () => {
    // 152 plain + '€' would straddle the 153-septet boundary: the '€' moves to the next part.
    const body = `${'a'.repeat(152)}€${'a'.repeat(10)}`;
    assert.equal(smsSegments(body).units, 164);
    assert.equal(smsSegments(body).segments, 2);
    const tight = `${'a'.repeat(152)}€${'a'.repeat(152)}`; // 306 septets, but the '€' does not fit in part 1
    assert.equal(smsSegments(tight).units, 306);
    assert.equal(smsSegments(tight).segments, 3);
  });

  it('one emoji forces UCS-2; 70 code units per single segment, 67 per part', () => {
    assert.deepEqual(smsSegments('Hi 😀'), { encoding: 'UCS-2', segments: 1, characters: 4, units: 5 });
    assert.equal(smsSegments('ж'.repeat(70)).segments, 1);
    assert.equal(smsSegments('ж'.repeat(71)).segments, 2);
    assert.equal(smsSegments('ж'.repeat(134)).segments, 2);
    assert.equal(smsSegments('ж'.repeat(135)).segments, 3);
    assert.equal(smsSegments(`${'a'.repeat(159)}😀`).encoding, 'UCS-2');
  });

  it('never splits a surrogate pair across UCS-2 parts', () => {
    const body = `${'ж'.repeat(66)}😀${'ж'.repeat(10)}`; // the emoji would take units 67-68
    assert.equal(smsSegments(body).units, 78);
    assert.equal(smsSegments(body).segments, 2);
    const tight = `${'ж'.repeat(66)}😀${'ж'.repeat(66)}`; // 134 units, yet 3 parts
    assert.equal(smsSegments(tight).segments, 3);
  });

  it('characters outside GSM that look Latin (curly quotes, ç lower-case) force UCS-2', () => {
    assert.equal(smsEncoding('It’s ready'), 'UCS-2');
    assert.equal(smsEncoding('façade'), 'UCS-2'); // GSM has Ç but not ç
    assert.equal(smsEncoding('Ç'), 'GSM-7');
  });

  it('an empty body is zero segments', () => {
    assert.deepEqual(smsSegments(''), { encoding: 'GSM-7', segments: 0, characters: 0, units: 0 });
  });

  it('segment count is monotonic in the body and matches the capacity bounds (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 400 }),
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        (a, b) => {
          const first = smsSegments(a);
          const both = smsSegments(a + b);
          if (first.encoding === both.encoding) assert.ok(both.segments >= first.segments);
          const [single, part] = both.encoding === 'GSM-7' ? [160, 153] : [70, 67];
          if (both.units === 0) assert.equal(both.segments, 0);
          else if (both.units <= single) assert.equal(both.segments, 1);
          else {
            assert.ok(both.segments >= Math.ceil(both.units / part));
            // at most one unit wasted per boundary moved (escape/surrogate), so never more than this:
            assert.ok(both.segments <= Math.ceil(both.units / (part - 1)));
          }
        },
      ),
    );
  });
});

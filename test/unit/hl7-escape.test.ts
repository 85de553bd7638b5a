import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_ENCODING, type Hl7Encoding } from '../../api/hl7/encoding';
import { escapeHl7, unescapeHl7 } from '../../api/hl7/escape';

const CUSTOM: Hl7Encoding = { field: '!', component: '@', repetition: '*', escape: '$', subcomponent: '%' };

void describe('unescapeHl7', () => {
  const cases: [string, string, string][] = [
    ['field separator', 'A\\F\\B', 'A|B'],
    ['component separator', 'A\\S\\B', 'A^B'],
    ['sub-component separator', 'A\\T\\B', 'A&B'],
    ['repetition separator', 'A\\R\\B', 'A~B'],
    ['escape character', 'C:\\E\\temp', 'C:\\temp'],
    ['line break', 'one\\.br\\two', 'one\ntwo'],
    ['skip line', 'one\\.sp\\two', 'one\ntwo'],
    ['highlight on/off dropped', '\\H\\BOLD\\N\\ text', 'BOLD text'],
    ['formatting commands dropped', '\\.in+4\\indented\\.fi\\', 'indented'],
    ['hex byte', 'CR\\X0D\\', 'CR\r'],
    ['hex UTF-8 sequence', 'Temp 37\\XC2B0\\C', 'Temp 37°C'],
    ['hex split across sequences', 'caf\\XC3\\\\XA9\\', 'café'],
    ['hex with lower case digits', '\\Xc3a9\\', 'é'],
    ['odd-length hex kept literally', 'x\\X0\\y', 'x\\X0\\y'],
    ['non-hex X kept literally', '\\XZZ\\', '\\XZZ\\'],
    ['unknown escape kept literally', 'keep \\Zlocal\\ as is', 'keep \\Zlocal\\ as is'],
    ['lone backslash kept', 'a\\b', 'a\\b'],
    ['trailing lone backslash kept', 'ends with \\', 'ends with \\'],
    ['two unknown sequences', '\\path\\to\\file', '\\path\\to\\file'],
    ['unknown followed by a real one', '\\foo\\F\\', '\\foo|'],
    ['empty sequence kept', 'a\\\\b', 'a\\\\b'],
    ['character-set switch dropped', '\\C2842\\text', 'text'],
    ['no escapes at all', 'plain text 5.4 mg/dL', 'plain text 5.4 mg/dL'],
  ];
  for (const [name, input, expected] of cases) {
    void it(name, () => assert.equal(unescapeHl7(input, DEFAULT_ENCODING), expected));
  }

  void it("uses the message's own delimiters", () => {
    assert.equal(unescapeHl7('100$T$ sure $F$ $S$ $R$ $E$', CUSTOM), '100% sure ! @ * $');
    // With `$` as escape, a backslash is ordinary text.
    assert.equal(unescapeHl7('a\\F\\b', CUSTOM), 'a\\F\\b');
  });

  void it('takes text literally when MSH-2 declares no escape character', () => {
    assert.equal(unescapeHl7('a\\F\\b', { ...DEFAULT_ENCODING, escape: '', subcomponent: '' }), 'a\\F\\b');
  });
});

void describe('escapeHl7', () => {
  void it('escapes every delimiter and line breaks', () => {
    assert.equal(escapeHl7('a|b^c~d&e\\f\ng', DEFAULT_ENCODING), 'a\\F\\b\\S\\c\\R\\d\\T\\e\\E\\f\\.br\\g');
  });

  void it('round-trips through unescapeHl7 for any text (CRLF becomes LF)', () => {
    for (const encoding of [DEFAULT_ENCODING, CUSTOM]) {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (text) => {
          assert.equal(unescapeHl7(escapeHl7(text, encoding), encoding), text.replace(/\r\n/g, '\n'));
        }),
        { numRuns: 300 },
      );
    }
  });

  void it('never emits a delimiter or a segment terminator', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (text) => {
        const escaped = escapeHl7(text, DEFAULT_ENCODING);
        assert.doesNotMatch(escaped.replace(/\\(F|S|T|R|E|\.br|X[0-9A-F]{2})\\/g, ''), /[|^~&\\\r\n]/);
      }),
      { numRuns: 300 },
    );
  });
});

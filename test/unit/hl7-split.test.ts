import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseOru, splitHl7Messages } from '../../api/hl7';

const FIXTURES = path.join(__dirname, '../fixtures/hl7');

function fixture(name: string): string {
  return readFileSync(path.join(FIXTURES, name), 'utf8');
}

void describe('splitHl7Messages', () => {
  void it('splits a batch file and drops the FHS/BHS/BTS/FTS envelope', () => {
    const messages = splitHl7Messages(fixture('batch-three-messages.hl7'));
    assert.equal(messages.length, 3);
    for (const [i, message] of messages.entries()) {
      assert.ok(message.startsWith('MSH|'));
      assert.ok(message.endsWith('\r'));
      assert.ok(!/[\n]|BTS|FTS|BHS|FHS/.test(message));
      const outcome = parseOru(message);
      assert.ok(outcome.ok);
      assert.equal(outcome.header.messageControlId, `NL-BAT-000${i + 1}`);
    }
  });

  void it('accepts any terminator and strips MLLP framing bytes', () => {
    const one = fixture('cbc-normal-final.hl7');
    const two = fixture('cmp-abnormal-lf.hl7');
    const framed = `\x0b${one}\x1c\r\x0b${two.replace(/\n/g, '\r\n')}\x1c\r`;
    const messages = splitHl7Messages(framed);
    assert.equal(messages.length, 2);
    assert.equal(messages[0], one);
    assert.equal(messages[1], two.replace(/\n/g, '\r'));
  });

  void it('keeps lines before the first MSH as a message of their own, so they are reported', () => {
    const messages = splitHl7Messages(`stray line\r${fixture('cbc-normal-final.hl7')}`);
    assert.equal(messages.length, 2);
    assert.equal(messages[0], 'stray line\r');
    const outcome = parseOru(messages[0] ?? '');
    assert.ok(!outcome.ok && outcome.error.segment === 'MSH');
  });

  void it('finds no message in empty or blank text', () => {
    assert.deepEqual(splitHl7Messages(''), []);
    assert.deepEqual(splitHl7Messages('\r\n\n  \r'), []);
  });

  void it('recovers exactly the messages that were concatenated, whatever the terminators', () => {
    const names = ['cbc-normal-final.hl7', 'critical-ll-aa.hl7', 'notes.hl7', 'escapes.hl7', 'custom-encoding.hl7'];
    const canonical = names.map((n) => splitHl7Messages(fixture(n))[0] ?? '');
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...canonical), { minLength: 1, maxLength: 6 }),
        fc.constantFrom('\r', '\n', '\r\n'),
        fc.constantFrom('', '\n', '\r\n\r\n'),
        (messages, terminator, gap) => {
          const file = messages.map((m) => m.replace(/\r/g, terminator)).join(gap);
          assert.deepEqual(splitHl7Messages(file), messages);
        },
      ),
    );
  });
});

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RESULT_STATUSES } from '../../domain/lab-result';
import { buildAck, parseOru, type ParseOutcome } from '../../api/hl7';
import { Hl7ErrorCode } from '../../api/hl7/problem';

/**
 * The parser must be total: every input ends in a result or an Hl7Problem. `parseOru` turns an
 * internal exception into an AR/207 as a last line of defence, so these properties assert that
 * the defence is never needed: a 207 here means the parser threw.
 */

const FIXTURES = path.join(__dirname, '../fixtures/hl7');
const VALID = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.hl7') && !f.startsWith('bad-') && !f.startsWith('batch') && !f.startsWith('mixed-valid'))
  .map((f) => readFileSync(path.join(FIXTURES, f), 'utf8'));

/** Characters that matter to an HL7 parser, so random text hits the interesting paths often. */
const HL7_CHARS = ['|', '^', '~', '\\', '&', '\r', '\n', 'M', 'S', 'H', 'X', 'F', '.', 'b', 'r', '0', '1', ' '];

function assertWellFormed(outcome: ParseOutcome): void {
  if (!outcome.ok) {
    assert.notEqual(outcome.error.errorCode, Hl7ErrorCode.APPLICATION_INTERNAL_ERROR, 'the parser threw');
    assert.ok(outcome.error.message.length > 0);
    assert.ok(outcome.error.ackCode === 'AE' || outcome.error.ackCode === 'AR');
    // An ACK can always be built for it.
    const ack = buildAck(
      { header: outcome.header },
      { code: outcome.error.ackCode, problem: outcome.error },
      new Date(0),
    );
    assert.ok(ack.startsWith('MSH'));
    return;
  }
  assert.ok(outcome.results.length > 0);
  for (const result of outcome.results) {
    assert.notEqual(result.resultId, '');
    assert.notEqual(result.patient.id, '');
    assert.ok(RESULT_STATUSES.includes(result.status));
    assert.equal(result.messageId, outcome.header.messageControlId);
  }
}

/** One edit of a valid message: characters removed, inserted or replaced, lines dropped, swapped or doubled. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 20 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.string({
      unit: fc.oneof(fc.constantFrom(...HL7_CHARS), fc.string({ unit: 'binary', maxLength: 1 })),
      maxLength: 8,
    }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('dropLine' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swapLines' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant('doubleLine' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('replaceField' as const),
    line: fc.nat(),
    field: fc.nat(),
    text: fc.string({ unit: fc.constantFrom(...HL7_CHARS, 'A', '9', '-'), maxLength: 12 }),
  }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(text: string, m: Mutation): string {
  const lines = text.split(/\r\n|\r|\n/);
  switch (m.kind) {
    case 'delete': {
      const at = m.at % Math.max(text.length, 1);
      return text.slice(0, at) + text.slice(at + m.length);
    }
    case 'insert': {
      const at = m.at % (text.length + 1);
      return text.slice(0, at) + m.text + text.slice(at);
    }
    case 'truncate':
      return text.slice(0, m.at % (text.length + 1));
    case 'dropLine':
      lines.splice(m.at % lines.length, 1);
      return lines.join('\r');
    case 'swapLines': {
      const a = m.a % lines.length;
      const b = m.b % lines.length;
      [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? ''];
      return lines.join('\r');
    }
    case 'doubleLine': {
      const at = m.at % lines.length;
      lines.splice(at, 0, lines[at] ?? '');
      return lines.join('\r');
    }
    case 'replaceField': {
      // Aimed at one field, so values, components and escapes are hit far more often than by
      // edits at random character positions.
      const at = m.line % lines.length;
      const fields = (lines[at] ?? '').split('|');
      fields[1 + (m.field % Math.max(fields.length - 1, 1))] = m.text;
      lines[at] = fields.join('|');
      return lines.join('\r');
    }
  }
}

void describe('parseOru is total', () => {
  void it('on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => assertWellFormed(parseOru(text))),
      {
        numRuns: 500,
      },
    );
  });

  void it('on arbitrary strings that start like a message', () => {
    const tail = fc.string({
      unit: fc.constantFrom(...HL7_CHARS, 'P', 'I', 'D', 'O', 'B', 'R', '2', '5'),
      maxLength: 300,
    });
    fc.assert(
      fc.property(fc.constantFrom('MSH|^~\\&|', 'MSH|', 'MSH#$*\\&#', 'MSH'), tail, (head, rest) =>
        assertWellFormed(parseOru(head + rest)),
      ),
      { numRuns: 500 },
    );
  });

  void it('on mutated valid messages, and deterministically', () => {
    fc.assert(
      fc.property(fc.constantFrom(...VALID), fc.array(mutation, { minLength: 1, maxLength: 5 }), (valid, mutations) => {
        const text = mutations.reduce(mutate, valid);
        const outcome = parseOru(text);
        assertWellFormed(outcome);
        assert.deepEqual(parseOru(text), outcome);
      }),
      { numRuns: 1500 },
    );
  });

  void it('accepts every valid fixture', () => {
    for (const text of VALID) assertWellFormed(parseOru(text));
    assert.ok(VALID.length >= 15);
    assert.ok(VALID.every((text) => parseOru(text).ok));
  });
});

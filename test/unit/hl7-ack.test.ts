import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ackReplyFor, buildAck, commitCode, parseOru, type Hl7Problem } from '../../api/hl7';
import type { Hl7Header } from '../../api/hl7/header';
import { tokenise } from '../../api/hl7/message';
import type { Hl7Segment } from '../../api/hl7/segments';

const FIXTURES = path.join(__dirname, '../fixtures/hl7');
const NOW = new Date('2024-03-05T19:30:00.000Z');

function fixture(name: string): string {
  return readFileSync(path.join(FIXTURES, name), 'utf8');
}

/** Reads an ACK back with our own tokeniser, so every field is checked the way a receiver reads it. */
function readAck(ack: string) {
  const tokens = tokenise(ack);
  if (!tokens.ok) assert.fail(`the ACK does not parse: ${tokens.error.message}`);
  const segment = (id: string): Hl7Segment => {
    const found = tokens.segments.find((s) => s.id === id);
    if (found === undefined) assert.fail(`no ${id} in the ACK`);
    return found;
  };
  const { reader } = tokens;
  return {
    ids: tokens.segments.map((s) => s.id),
    header: tokens.header,
    raw: (id: string, field: number) => reader.raw(segment(id), field),
    value: (id: string, field: number, component = 1) => reader.value(segment(id), field, component),
  };
}

function ackFor(name: string): { ack: string; controlId: string | undefined } {
  const outcome = parseOru(fixture(name));
  const ack = outcome.ok
    ? buildAck({ header: outcome.header }, { code: 'AA' }, NOW)
    : buildAck(
        { header: outcome.header, rawMsh: fixture(name) },
        { code: outcome.error.ackCode, problem: outcome.error },
        NOW,
      );
  return { ack, controlId: outcome.header?.messageControlId };
}

void describe('buildAck', () => {
  void it('AA: swaps sender and receiver, echoes MSH-10 in MSA-2, keeps version and processing ID', () => {
    const { ack } = ackFor('cbc-normal-final.hl7');
    assert.ok(ack.endsWith('\r'), 'segments are CR-terminated');
    assert.ok(!ack.includes('\n'));
    const read = readAck(ack);
    assert.deepEqual(read.ids, ['MSH', 'MSA']);
    assert.equal(read.raw('MSH', 3), 'LABLOOP');
    assert.equal(read.raw('MSH', 4), 'BAYCLINIC');
    assert.equal(read.raw('MSH', 5), 'LABSYS');
    assert.equal(read.raw('MSH', 6), 'NORTHLAB^2.16.840.1.113883.3.9999^ISO', 'the whole HD is echoed');
    assert.equal(read.raw('MSH', 7), '20240305193000+0000');
    assert.equal(read.raw('MSH', 9), 'ACK^R01^ACK');
    assert.match(read.value('MSH', 10), /^A[0-9A-Z]{8,16}$/);
    assert.notEqual(read.value('MSH', 10), 'NL-CBC-0001');
    assert.equal(read.value('MSH', 11), 'P');
    assert.equal(read.value('MSH', 12), '2.5.1');
    assert.equal(read.value('MSA', 1), 'AA');
    assert.equal(read.value('MSA', 2), 'NL-CBC-0001');
  });

  void it('is deterministic apart from MSH-7 and MSH-10', () => {
    const outcome = parseOru(fixture('bad-no-pid3.hl7'));
    assert.ok(!outcome.ok);
    const a = buildAck({ header: outcome.header }, { code: 'AE', problem: outcome.error }, NOW);
    const b = buildAck(
      { header: outcome.header },
      { code: 'AE', problem: outcome.error },
      new Date('2025-01-01T00:00:00Z'),
    );
    const strip = (ack: string) => ack.replace(/^(MSH(?:\|[^|\r]*){5})\|[^|]*(\|[^|]*\|[^|]*)\|[^|]*/, '$1|$2|');
    assert.notEqual(a, b);
    assert.equal(strip(a), strip(b));
    assert.notEqual(readAck(a).value('MSH', 10), readAck(b).value('MSH', 10));
  });

  void it('AE: ERR names the segment, occurrence and field, with the table 0357 code', () => {
    const { ack } = ackFor('bad-no-pid3.hl7');
    const read = readAck(ack);
    assert.deepEqual(read.ids, ['MSH', 'MSA', 'ERR']);
    assert.equal(read.value('MSA', 1), 'AE');
    assert.equal(read.value('MSA', 2), 'NL-BAD-0001');
    assert.equal(read.value('MSA', 3), 'PID-3 (patient identifier list) is missing');
    assert.equal(read.raw('ERR', 1), 'PID^1^3^101&Required field missing&HL70357', 'ERR-1 for v2.3/2.4 receivers');
    assert.equal(read.raw('ERR', 2), 'PID^1^3');
    assert.equal(read.raw('ERR', 3), '101^Required field missing^HL70357');
    assert.equal(read.value('ERR', 4), 'E');
    assert.equal(read.value('ERR', 8), 'PID-3 (patient identifier list) is missing');
  });

  void it('AR for an unsupported message type echoes its trigger and names MSH-9.1', () => {
    const read = readAck(ackFor('bad-adt-a01.hl7').ack);
    assert.equal(read.raw('MSH', 9), 'ACK^A01^ACK');
    assert.equal(read.value('MSA', 1), 'AR');
    assert.equal(read.value('MSA', 2), 'ADT-0004');
    assert.equal(read.raw('ERR', 2), 'MSH^1^9^1^1');
    assert.equal(read.raw('ERR', 3), '200^Unsupported message type^HL70357');
    assert.match(read.value('ERR', 8), /MSH-9 \(message type\) "ADT\^A01" is not supported/, 'escaped, then read back');
  });

  void it('AE for a line that is not a segment locates it: ERR-2 names the segment before it, the text both lines', () => {
    const text = [
      'MSH|^~\\&|LAB|NORTHLAB|LABLOOP|BAY|20240305143000||ORU^R01|CTL-9|P|2.5.1',
      'PID|1||MRN1^^^BAY^MR||Doe^Jane',
      'OBR|1||FIL-1|2345-7^Glucose^LN||||||||||||||||||||F',
      'OBX|1|TX|2345-7^Glucose^LN||first half of a comment',
      'broken off by a stray line break',
    ].join('\r');
    const outcome = parseOru(text);
    assert.ok(!outcome.ok);
    const read = readAck(buildAck({ header: outcome.header }, { code: 'AE', problem: outcome.error }, NOW));
    assert.equal(read.value('MSA', 1), 'AE');
    assert.equal(read.raw('ERR', 2), 'OBX^1');
    assert.equal(read.raw('ERR', 3), '100^Segment sequence error^HL70357');
    assert.match(read.value('ERR', 8), /^line 5 is not an HL7 segment .*it follows OBX at line 4/);
  });

  void it("answers in the message's own delimiters", () => {
    const outcome = parseOru(fixture('custom-encoding.hl7'));
    assert.ok(outcome.ok);
    const ack = buildAck({ header: outcome.header }, { code: 'AA' }, NOW);
    assert.ok(ack.startsWith('MSH!@*$%!LABLOOP!BAYCLINIC!LABSYS!NORTHLAB!'));
    const read = readAck(ack);
    assert.equal(read.raw('MSH', 9), 'ACK@R01@ACK');
    assert.equal(read.value('MSA', 2), 'NL-ENC-0014');
  });

  void it('escapes free text so it cannot break the ACK', () => {
    const outcome = parseOru(fixture('cbc-normal-final.hl7'));
    assert.ok(outcome.ok);
    const text = 'odd | text ^ with ~ every & delimiter \\ and\r\na line break';
    const ack = buildAck({ header: outcome.header }, { code: 'AE', text }, NOW);
    const read = readAck(ack);
    assert.deepEqual(read.ids, ['MSH', 'MSA', 'ERR']);
    assert.equal(read.value('MSA', 3), text.replace('\r\n', '\n'));
    assert.equal(read.raw('ERR', 3), '207^Application internal error^HL70357', 'AE without a problem is 207');
  });

  void it('works without any header: MSA-2 empty, our defaults', () => {
    const problem: Hl7Problem = { ackCode: 'AR', segment: '', errorCode: 207, message: 'too large' };
    const read = readAck(buildAck({}, { code: 'AR', problem }, NOW));
    assert.equal(read.raw('MSH', 9), 'ACK');
    assert.equal(read.value('MSH', 12), '2.5.1');
    assert.equal(read.value('MSA', 1), 'AR');
    assert.equal(read.value('MSA', 2), '');
    assert.equal(read.raw('ERR', 2), '', 'no location for a whole-message problem');
    assert.equal(read.value('ERR', 8), 'too large');
  });

  void it('makes a best effort from a raw MSH the parser could not accept', () => {
    const raw = '\x0bMSH|^~\\&|APP|FAC|RCV|RFAC|20240305||ORU^R01|CTL-77|T|2.9\rPID|1\x1c\r';
    const read = readAck(buildAck({ rawMsh: raw }, { code: 'AR', text: 'bad version' }, NOW));
    assert.equal(read.raw('MSH', 3), 'RCV');
    assert.equal(read.raw('MSH', 5), 'APP');
    assert.equal(read.value('MSH', 11), 'T');
    assert.equal(read.value('MSH', 12), '2.9');
    assert.equal(read.value('MSA', 2), 'CTL-77');

    const garbage = readAck(buildAck({ rawMsh: 'not hl7 at all' }, { code: 'AR' }, NOW));
    assert.equal(garbage.value('MSA', 2), '');
  });

  void it('always yields a well-formed ACK echoing the control ID, whatever the message text', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 20 }),
        fc.constantFrom<'AA' | 'AE' | 'AR'>('AA', 'AE', 'AR'),
        (message, controlId, code) => {
          const header = parseOru(fixture('cbc-normal-final.hl7')).header;
          assert.ok(header !== undefined);
          const ack = buildAck({ header: { ...header, messageControlId: controlId } }, { code, text: message }, NOW);
          const read = readAck(ack);
          assert.deepEqual(read.ids, code === 'AA' ? ['MSH', 'MSA'] : ['MSH', 'MSA', 'ERR']);
          assert.equal(read.value('MSA', 2), controlId.trim());
        },
      ),
      { numRuns: 200 },
    );
  });
});

void describe('buildAck: accepted with warnings (issue 13 §6)', () => {
  void it('AA with one ERR of severity W per ignored field, naming it in ERR-1/ERR-2 and ERR-8', () => {
    const text = fixture('cbc-normal-final.hl7').replace(/^(PID(?:\|[^|\r\n]*){6})\|[^|\r\n]*/m, '$1|196203520');
    const outcome = parseOru(text);
    assert.ok(outcome.ok);
    assert.equal(outcome.warnings.length, 1, 'PID-7 is the only warning');
    const ack = buildAck({ header: outcome.header }, { code: 'AA', warnings: outcome.warnings }, NOW);
    const read = readAck(ack);
    assert.deepEqual(read.ids, ['MSH', 'MSA', 'ERR']);
    assert.equal(read.value('MSA', 1), 'AA');
    assert.equal(read.raw('ERR', 2), 'PID^1^7');
    assert.equal(read.value('ERR', 1, 1), 'PID');
    assert.equal(read.value('ERR', 1, 3), '7');
    assert.equal(read.raw('ERR', 3), '102^Data type error^HL70357');
    assert.equal(read.value('ERR', 4), 'W');
    assert.match(read.value('ERR', 8), /^PID-7 .*ignored$/);
    assert.ok(!ack.includes('196203520'), 'the value is not echoed');
  });

  void it('an AA without warnings has no ERR; warnings never reach an AE', () => {
    const outcome = parseOru(fixture('cbc-normal-final.hl7'));
    assert.ok(outcome.ok);
    assert.deepEqual(readAck(buildAck({ header: outcome.header }, { code: 'AA', warnings: [] }, NOW)).ids, [
      'MSH',
      'MSA',
    ]);
    const warning = { segment: 'PID', sequence: 1, field: 7, errorCode: 102 as const, message: 'PID-7 ignored' };
    const ae = readAck(
      buildAck(
        { header: outcome.header },
        {
          code: 'AE',
          problem: { ...warning, ackCode: 'AE', field: 3, message: 'PID-3 missing' },
          warnings: [warning],
        },
        NOW,
      ),
    );
    assert.deepEqual(ae.ids, ['MSH', 'MSA', 'ERR']);
    assert.equal(ae.value('ERR', 4), 'E');
  });
});

void describe('enhanced acknowledgement mode (MSH-15/MSH-16, table 0155)', () => {
  const header = (accept?: string, application?: string): Hl7Header => {
    const outcome = parseOru(fixture('cbc-normal-final.hl7'));
    assert.ok(outcome.ok);
    const { acceptAckType: _a, applicationAckType: _b, ...rest } = outcome.header;
    return {
      ...rest,
      ...(accept === undefined ? {} : { acceptAckType: accept }),
      ...(application === undefined ? {} : { applicationAckType: application }),
    };
  };

  void it('both empty is original mode: always the application ACK', () => {
    for (const code of ['AA', 'AE', 'AR'] as const) {
      assert.equal(ackReplyFor(header(), code), 'application');
      assert.equal(ackReplyFor(undefined, code), 'application');
    }
  });

  void it('MSH-15 decides the commit ACK; MSH-16 the application ACK when no commit ACK is due; else nothing', () => {
    const cases: [string | undefined, string | undefined, 'AA' | 'AE', string][] = [
      ['AL', 'NE', 'AA', 'commit'],
      ['AL', 'NE', 'AE', 'commit'],
      ['NE', 'AL', 'AA', 'application'],
      ['NE', 'NE', 'AA', 'none'],
      ['NE', 'NE', 'AE', 'none'],
      ['ER', 'NE', 'AA', 'none'],
      ['ER', 'NE', 'AE', 'commit'],
      ['SU', 'NE', 'AA', 'commit'],
      ['SU', 'ER', 'AE', 'application'],
      ['NE', 'SU', 'AE', 'none'],
      [undefined, 'AL', 'AA', 'application'],
      ['XX', 'NE', 'AA', 'commit'],
      ['al', 'ne', 'AA', 'commit'],
    ];
    for (const [accept, application, code, expected] of cases) {
      assert.equal(ackReplyFor(header(accept, application), code), expected, `${accept}/${application} ${code}`);
    }
  });

  void it('a commit ACK says CA/CE/CR in MSA-1; CA carries warnings, CE an error', () => {
    assert.deepEqual((['AA', 'AE', 'AR'] as const).map(commitCode), ['CA', 'CE', 'CR']);
    const h = header('AL', 'NE');
    const ca = readAck(buildAck({ header: h }, { code: 'CA' }, NOW));
    assert.deepEqual([ca.ids, ca.value('MSA', 1)], [['MSH', 'MSA'], 'CA']);
    const warning = { segment: 'PID', sequence: 1, field: 7, errorCode: 102 as const, message: 'PID-7 ignored' };
    const caWarn = readAck(buildAck({ header: h }, { code: 'CA', warnings: [warning] }, NOW));
    assert.equal(caWarn.value('ERR', 4), 'W');
    const ce = readAck(
      buildAck({ header: h }, { code: 'CE', problem: { ...warning, ackCode: 'AE', message: 'PID-3 missing' } }, NOW),
    );
    assert.deepEqual([ce.value('MSA', 1), ce.value('ERR', 4)], ['CE', 'E']);
  });
});

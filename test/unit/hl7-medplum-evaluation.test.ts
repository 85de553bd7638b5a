import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hl7Context, Hl7Message, Hl7Segment } from '@medplum/core';
import { buildAck, parseOru, unescapeHl7, DEFAULT_ENCODING } from '../../api/hl7';
import { tokenise } from '../../api/hl7/message';

/**
 * Why api/hl7 tokenises messages itself instead of with @medplum/core's Hl7Message (4.5.2, the
 * version the project can use on Node 20). Each case is a small message a real sender may send, run
 * through both: medplum's answer is asserted as it is today, ours as it must be. If an upgrade of
 * @medplum/core makes a medplum assertion fail, the shortcoming is gone: re-evaluate adopting it
 * (docs/architecture.md, "HL7 v2 parsing"), and keep our assertions, which are the contract.
 */

const MSH_TAIL = '|LAB|NORTHLAB|LABLOOP|BAY|20240305143000||ORU^R01^ORU_R01|CTL-1|P|2.5.1';
const BODY = ['PID|1||MRN1^^^BAY^MR||Doe^Jane', 'OBR|1||FIL-1|2345-7^Glucose^LN||||||||||||||||||||F'];
const NOW = new Date('2024-03-05T19:30:00.000Z');

void describe('@medplum/core Hl7Message 4.5.2 against our tokeniser', () => {
  void it('delimiters: medplum reads MSH-2 at fixed offsets, so a short MSH-2 mis-splits the header', () => {
    // Two encoding characters (no escape, no sub-component separator) are legal in what we accept.
    const text = [`MSH|^~${MSH_TAIL}`, ...BODY].join('\r');
    const medplum = Hl7Message.parse(text);
    assert.equal(medplum.context.escapeCharacter, '|', 'medplum takes MSH-1 as the escape character');
    assert.equal(
      medplum.context.subcomponentSeparator,
      'L',
      'and the first letter of MSH-3 as the sub-component separator',
    );
    assert.equal(medplum.header.getComponent(3, 1, 0), '', 'so MSH-3 "LAB" reads as empty');

    const ours = tokenise(text);
    assert.ok(ours.ok);
    assert.equal(ours.header.sendingApplication.namespaceId, 'LAB');
    assert.equal(ours.encoding.subcomponent, '');
  });

  void it('ACK: medplum writes its derived MSH-2, so a three-character MSH-2 corrupts every field of its ACK', () => {
    const text = [`MSH|^~\\${MSH_TAIL}`, ...BODY].join('\r');
    const medplumAck = Hl7Message.parse(text).buildAck().toString();
    assert.ok(medplumAck.startsWith('MSH|^~\\||LABLOOP|'), 'MSH-2 gained a fourth character: the field separator');
    const medplumMsh = medplumAck.split('\r')[0]?.split('|') ?? [];
    assert.equal(medplumMsh[2], '', 'so every later field moved one place: MSH-3 reads as empty');
    assert.equal(medplumMsh[3], 'LABLOOP', 'and our own name lands in MSH-4');

    const outcome = parseOru(text);
    assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
    const ourAck = tokenise(buildAck({ header: outcome.header }, { code: 'AA' }, NOW));
    assert.ok(ourAck.ok);
    assert.equal(ourAck.header.sendingApplication.namespaceId, 'LABLOOP');
    assert.equal(ourAck.header.receivingApplication.namespaceId, 'LAB');
  });

  void it('ACK: medplum answers every message as production with a millisecond clock ID and no ERR', () => {
    const text = [`MSH|^~\\&${MSH_TAIL.replace('|P|2.5.1', '|T|2.5.1')}`, ...BODY].join('\r');
    const [msh, msa, err] = Hl7Message.parse(text).buildAck({ ackCode: 'AE' }).toString().split('\r');
    const fields = msh?.split('|') ?? [];
    assert.equal(fields[10], 'P', 'a training (T) message gets a production ACK');
    assert.match(fields[9] ?? '', /^\d{13}$/, 'MSH-10 is Date.now(): two ACKs in one millisecond share it');
    assert.equal(msa, 'MSA|AE|CTL-1|Application Error', 'MSA-3 cannot say what is wrong');
    assert.equal(err, undefined, 'the caller builds ERR itself');

    const outcome = parseOru(text);
    assert.ok(outcome.ok);
    const ours = buildAck({ header: outcome.header }, { code: 'AA' }, NOW).split('\r')[0]?.split('|') ?? [];
    assert.equal(ours[10], 'T');
  });

  void it('framing: medplum refuses a message with a byte-order mark or an MLLP start block, naming nothing', () => {
    for (const noise of ['\uFEFF', '\x0b', '\r\n']) {
      const text = `${noise}${[`MSH|^~\\&${MSH_TAIL}`, ...BODY].join('\r')}`;
      assert.throws(() => Hl7Message.parse(text), /^Error: Invalid HL7 message$/);
      assert.ok(tokenise(text).ok, JSON.stringify(noise));
    }
  });

  void it('errors: medplum takes any line as a segment, so it cannot say where a message is broken', () => {
    const text = [`MSH|^~\\&${MSH_TAIL}`, ...BODY, 'a value broken by a stray line break'].join('\r');
    assert.deepEqual(
      Hl7Message.parse(text).segments.map((s) => s.name),
      ['MSH', 'PID', 'OBR', 'a value broken by a stray line break'],
    );
    const ours = tokenise(text);
    assert.ok(!ours.ok);
    assert.equal(ours.error.segment, 'OBR');
    assert.match(ours.error.message, /^line 4 is not an HL7 segment/);
  });

  void it('reading: a repetition that is not there throws, and sub-components count from 0 where components count from 1', () => {
    const obx = Hl7Segment.parse('OBX|1|NM|2345-7^Glucose^LN||90|mg/dL', new Hl7Context());
    assert.throws(() => obx.getComponent(5, 1, undefined, 1), TypeError);
    const pid = Hl7Segment.parse('PID|1||MRN1&BAY^^^HOSP', new Hl7Context());
    assert.equal(pid.getComponent(3, 1, 1), 'BAY', 'sub-component 1 is the second one');
    // Without a sub-component separator, asking for one splits the value into characters.
    const bare = new Hl7Segment(['OBX', '1', 'ST', 'ABC^DEF'], new Hl7Context('\r', '|', '^', '~', '\\', ''));
    assert.equal(bare.getComponent(3, 1, 0), 'A');
  });

  void it('escapes: medplum returns \\T\\ \\F\\ \\S\\ \\R\\ \\E\\ undecoded', () => {
    const raw = Hl7Message.parse([`MSH|^~\\&${MSH_TAIL}`, 'OBX|1|ST|X^Y||a\\T\\b\\F\\c\\S\\d'].join('\r'))
      .getSegment('OBX')
      ?.getComponent(5, 1);
    assert.equal(raw, 'a\\T\\b\\F\\c\\S\\d');
    assert.equal(unescapeHl7(raw ?? '', DEFAULT_ENCODING), 'a&b|c^d');
  });
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { batchMessages, buildBatchAck, isHl7Batch } from '../../api/hl7/batch';

const BATCH = readFileSync(path.join(__dirname, '../fixtures/hl7/batch-three-messages.hl7'), 'utf8');
const NOW = new Date('2024-03-20T15:00:00.000Z');

void describe('HL7 batch files', () => {
  void it('a text starting FHS or BHS is a batch; a single message is not', () => {
    assert.equal(isHl7Batch(BATCH), true);
    assert.equal(isHl7Batch(`\r\nBHS|^~\\&|A\rMSH|^~\\&|X\rBTS|1`), true);
    assert.equal(isHl7Batch(batchMessages(BATCH)[0] ?? ''), false);
    assert.equal(isHl7Batch(''), false);
  });

  void it('splits into its messages, envelope dropped, in order', () => {
    const messages = batchMessages(BATCH);
    assert.deepEqual(
      messages.map((m) => m.split('|')[9]),
      ['NL-BAT-0001', 'NL-BAT-0002', 'NL-BAT-0003'],
    );
    assert.ok(messages.every((m) => !/(^|\r)(FHS|BHS|BTS|FTS)/.test(m)));
  });

  void it('the batch ACK swaps sender and receiver, holds the ACKs in order and counts them', () => {
    const ack = buildBatchAck(BATCH, ['MSH|^~\\&|A\rMSA|AA|1\r', '', 'MSH|^~\\&|A\rMSA|AE|3\r'], NOW);
    const segments = ack.split('\r').filter((s) => s !== '');
    assert.deepEqual(
      segments.map((s) => s.slice(0, 3)),
      ['FHS', 'BHS', 'MSH', 'MSA', 'MSH', 'MSA', 'BTS', 'FTS'],
    );
    assert.equal(segments[1], 'BHS|^~\\&|LABLOOP|BAYCLINIC|LABSYS|NORTHLAB|20240320150000+0000');
    assert.equal(segments.at(-2), 'BTS|2', 'a message that asked for no ACK is not counted');
    assert.equal(segments.at(-1), 'FTS|1');
    const withoutFile = buildBatchAck(BATCH.replace(/^FHS[^\r]*\r/, ''), [], NOW);
    assert.deepEqual(
      withoutFile
        .split('\r')
        .filter((s) => s !== '')
        .map((s) => s.slice(0, 3)),
      ['BHS', 'BTS'],
    );
  });
});

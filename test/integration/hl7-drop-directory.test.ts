import type { AuthenticatedSender } from '../../lib/senders';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startHl7DropDirectory } from '../../api/hl7-drop/watcher';
import {
  hl7Fixture,
  startIngestHarness,
  unreachableTemporalClient,
  workflowExists,
  type IngestHarness,
} from './ingest-harness';

/**
 * Issue 13 §6: batch files over a watched directory. A dropped batch is taken message by message
 * (each with its own ACK in the batch ACK written to `acks/`) and moves to `processed/` once handed
 * off; a file that could not be taken now (Temporal unreachable) stays and is taken on a later scan.
 */

const tag = () => randomBytes(4).toString('hex');

function uniqueBatch(t: string): string {
  return hl7Fixture('batch-three-messages', { controlId: `DROP-${t}`, tag: t })
    .split('\r')
    .map((segment, i) => (segment.startsWith('MSH|') ? segment.replace(`DROP-${t}`, `DROP-${t}-${i}`) : segment))
    .join('\r');
}

const msaCodes = (ack: string) =>
  ack
    .split('\r')
    .filter((s) => s.startsWith('MSA|'))
    .map((s) => s.split('|')[1]);

/** The drop directory's sender, as startApi hands it to the watcher (test/support/senders.ts). */
function dropSender(h: IngestHarness): AuthenticatedSender {
  const sender = h.senders.dropDirectorySender();
  if (sender === undefined) throw new Error('the test sender registry has no drop-directory sender');
  return { sender, channel: 'hl7-drop-directory' };
}

void describe('HL7 drop directory', () => {
  let h: IngestHarness;
  before(async () => {
    h = await startIngestHarness({ label: 'hl7_drop_directory' });
  });
  after(async () => {
    await h?.close();
  });

  void it('a dropped batch is acknowledged message by message and moved to processed/', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'labloop-drop-'));
    const drop = await startHl7DropDirectory({
      directory: dir,
      ingestHl7: h.built.ingestHl7,
      ingestHl7Batch: h.built.ingestHl7Batch,
      sender: dropSender(h),
      intervalMs: 60_000,
    });
    try {
      const t = tag();
      writeFileSync(path.join(dir, 'batch-1.hl7'), uniqueBatch(t));
      writeFileSync(path.join(dir, 'notes.txt'), 'not HL7: left alone');
      await drop.scan();
      const ack = readFileSync(path.join(dir, 'acks', 'batch-1.hl7.ack'), 'utf8');
      assert.deepEqual(msaCodes(ack), ['AA', 'AA', 'AA']);
      assert.match(ack, /^FHS\|/);
      assert.ok(existsSync(path.join(dir, 'processed', 'batch-1.hl7')));
      assert.ok(!existsSync(path.join(dir, 'batch-1.hl7')));
      assert.ok(existsSync(path.join(dir, 'notes.txt')));
    } finally {
      await drop.stop();
    }
  });

  void it('a file that cannot be taken now stays, and is taken once the hand-off works again', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'labloop-drop-'));
    const down = await h.buildApi({ temporal: await unreachableTemporalClient(), temporalDeadlineMs: 500 });
    const t = tag();
    const file = path.join(dir, 'single.hl7');
    writeFileSync(file, hl7Fixture('cbc-normal-final', { controlId: `DROP-${t}`, tag: t }));
    const failing = await startHl7DropDirectory({
      directory: dir,
      ingestHl7: down.ingestHl7,
      ingestHl7Batch: down.ingestHl7Batch,
      sender: dropSender(h),
      intervalMs: 60_000,
    });
    await failing.scan();
    await failing.stop();
    assert.deepEqual(msaCodes(readFileSync(path.join(dir, 'acks', 'single.hl7.ack'), 'utf8')), ['AR']);
    assert.ok(existsSync(file), 'kept for the next scan');

    const working = await startHl7DropDirectory({
      directory: dir,
      ingestHl7: h.built.ingestHl7,
      ingestHl7Batch: h.built.ingestHl7Batch,
      sender: dropSender(h),
      intervalMs: 60_000,
    });
    try {
      await working.scan();
      assert.deepEqual(msaCodes(readFileSync(path.join(dir, 'acks', 'single.hl7.ack'), 'utf8')), ['AA']);
      assert.ok(!existsSync(file) && existsSync(path.join(dir, 'processed', 'single.hl7')));
      const outcome = await h.built.ingestHl7(
        hl7Fixture('cbc-normal-final', { controlId: `DROP-${t}`, tag: t }),
        dropSender(h),
      );
      assert.equal(outcome.duplicate, true, 'the message was taken in once');
      assert.equal(await workflowExists(h.client, outcome.workflowIds[0] ?? ''), true);
    } finally {
      await working.stop();
    }
  });
});

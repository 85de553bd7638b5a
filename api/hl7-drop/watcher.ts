import type { AuthenticatedSender } from '../../lib/senders';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Hl7ErrorCode } from '../hl7';
import { isHl7Batch } from '../hl7/batch';
import type { Hl7BatchIngest } from '../ingest/hl7-batch-ingest';
import type { Hl7Ingest, Hl7IngestOutcome } from '../ingest/hl7-ingest';

/**
 * A watched directory for HL7 files (single messages or FHS/BHS batches), for labs and engines that
 * drop files instead of holding a connection. Each `*.hl7` file in the directory is ingested
 * message by message, like MLLP and HTTPS; its reply (ACK or batch ACK) is written to
 * `acks/<file>.ack`, and the file moves to `processed/`. A file any of whose messages could not be
 * taken now (Temporal or the database down) stays where it is and is tried again on the next scan:
 * messages already taken in are answered AA again and not started twice. Files are moved only
 * after their hand-off, so nothing accepted is lost and nothing is dropped unseen.
 */

/** How often the directory is scanned: a dropped file waits at most this long. */
export const HL7_DROP_SCAN_INTERVAL_MS = 2_000;
const FILE_SUFFIX = '.hl7';

export interface Hl7DropDirectory {
  /** Scans once (also what the timer runs); resolves when every file found is handled. */
  scan(): Promise<void>;
  stop(): Promise<void>;
}

export interface Hl7DropOptions {
  directory: string;
  ingestHl7: Hl7Ingest;
  ingestHl7Batch: Hl7BatchIngest;
  /** Who the dropped files are from (the registry's `hl7DropDirectory` sender): scoped like any sender. */
  sender: AuthenticatedSender;
  intervalMs?: number;
  onError?: (err: unknown) => void;
}

function retryLater(outcomes: readonly Hl7IngestOutcome[]): boolean {
  return outcomes.some((o) => o.problem?.errorCode === Hl7ErrorCode.APPLICATION_INTERNAL_ERROR);
}

export async function startHl7DropDirectory(options: Hl7DropOptions): Promise<Hl7DropDirectory> {
  const { directory } = options;
  const acks = path.join(directory, 'acks');
  const processed = path.join(directory, 'processed');
  await mkdir(acks, { recursive: true });
  await mkdir(processed, { recursive: true });

  const handle = async (name: string): Promise<void> => {
    const file = path.join(directory, name);
    const text = await readFile(file, 'utf8');
    const { ack, outcomes } = isHl7Batch(text)
      ? await options.ingestHl7Batch(text, options.sender)
      : await options.ingestHl7(text, options.sender).then((o) => ({ ack: o.ack, outcomes: [o] }));
    // Written whole, then renamed: a reader never sees half an ACK.
    const ackFile = path.join(acks, `${name}.ack`);
    await writeFile(`${ackFile}.tmp`, ack);
    await rename(`${ackFile}.tmp`, ackFile);
    if (!retryLater(outcomes)) await rename(file, path.join(processed, name));
  };

  const scanOnce = async (): Promise<void> => {
    const names = (await readdir(directory, { withFileTypes: true }))
      .filter((e) => e.isFile() && e.name.toLowerCase().endsWith(FILE_SUFFIX))
      .map((e) => e.name)
      .sort();
    for (const name of names) {
      try {
        await handle(name);
      } catch (err) {
        // The file stays in place and is tried again on the next scan.
        options.onError?.(err);
      }
    }
  };
  // One scan at a time: a slow hand-off never lets two scans take the same file.
  let running: Promise<void> = Promise.resolve();
  const scan = (): Promise<void> => {
    running = running.then(scanOnce).catch((err: unknown) => options.onError?.(err));
    return running;
  };
  const timer = setInterval(() => {
    void scan();
  }, options.intervalMs ?? HL7_DROP_SCAN_INTERVAL_MS);
  return {
    scan,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

import { batchMessages, buildBatchAck } from '../hl7/batch';
import type { AuthenticatedSender } from '../../lib/senders';
import type { Hl7Ingest, Hl7IngestOutcome } from './hl7-ingest';

/**
 * An HL7 batch file (FHS/BHS … BTS/FTS) in, message by message: each message goes through the
 * single-message ingest on its own (its own hand-off, its own ACK, its own outcome), in order, and
 * the reply is a batch of the ACKs. A message refused does not stop the ones after it; a resent
 * batch is answered AA again for the messages already taken in, without starting them twice.
 */
export interface Hl7BatchOutcome {
  /** The batch ACK to send back. */
  ack: string;
  /** One per message of the batch, in order. */
  outcomes: Hl7IngestOutcome[];
}

export function createHl7BatchIngest(deps: { ingestHl7: Hl7Ingest; now: () => Date }) {
  /** `from`: the authenticated sender of the whole batch; each message is scoped as a single one is. */
  return async function ingestHl7Batch(text: string, from: AuthenticatedSender): Promise<Hl7BatchOutcome> {
    const outcomes: Hl7IngestOutcome[] = [];
    for (const message of batchMessages(text)) outcomes.push(await deps.ingestHl7(message, from));
    return {
      ack: buildBatchAck(
        text,
        outcomes.map((o) => o.ack),
        deps.now(),
      ),
      outcomes,
    };
  };
}

export type Hl7BatchIngest = ReturnType<typeof createHl7BatchIngest>;

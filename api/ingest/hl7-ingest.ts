import type { Logger } from '../../lib/logger';
import type { PracticeRegistry } from '../../lib/practices';
import {
  buildAck,
  hl7RetransmissionFingerprint,
  hl7Sender,
  parseOru,
  Hl7ErrorCode,
  type Hl7Problem,
  type ParseOutcome,
} from '../hl7';
import type { ResultLinkKey } from '../../lib/result-ref';
import type { Handoff } from './handoff';
import { applyPracticeProviders } from './provider-mapping';

/**
 * One HL7 v2 ORU^R01 in, one ACK out, for both transports (HTTPS and MLLP). AA only once every
 * result in the message is durably with Temporal; AE/AR name the segment and field otherwise, and
 * nothing is started for a refused message.
 */
export interface Hl7IngestOutcome {
  ack: string;
  code: 'AA' | 'AE' | 'AR';
  workflowIds: string[];
  duplicate: boolean;
  problem?: Hl7Problem;
}

/**
 * Parses one ORU^R01 and applies the practice registry to its results: the practice from MSH-4, the
 * practice's staff ID for the ordering provider, "arrives signed" for reviewed feeds, and the issuer
 * of the result IDs for facilities configured to carry another system's IDs (`hl7ResultIdIssuers`).
 * Shared with the tests that compute the workflow ID a message lands on.
 */
export function parseHl7ForPractice(text: string, practices: PracticeRegistry): ParseOutcome {
  const parsed = parseOru(text, {
    practiceIdFor: (header) => practices.byHl7Facility(header.sendingFacility.namespaceId)?.practiceId,
  });
  if (!parsed.ok) return parsed;
  const practiceId = parsed.results[0]?.practiceId ?? '';
  const entry = practices.entry(practiceId);
  if (entry === undefined) return parsed;
  const facility = parsed.header.sendingFacility.namespaceId;
  const arrivesSigned = entry.routing.hl7ReviewedFacilities.some((f) => f.toUpperCase() === facility.toUpperCase());
  const issuer = practices.hl7ResultIdIssuer(practiceId, facility);
  const results = parsed.results.map((r) =>
    applyPracticeProviders(issuer === undefined ? r : { ...r, resultIdIssuer: issuer }, entry, { arrivesSigned }),
  );
  return { ...parsed, results };
}

/**
 * The link key of each result of a parsed message (same index), for results the lab may also have
 * sent to athena: the practice works with athena, and the facility sends the lab's own filler numbers
 * (a facility mapped to another namespace, athena's outbound ORU, already shares athena's identity).
 * A result without a filler order number or a LOINC-coded panel has none: it cannot be matched safely.
 */
export function hl7LinkKeys(
  parsed: Extract<ParseOutcome, { ok: true }>,
  practices: PracticeRegistry,
): (ResultLinkKey | undefined)[] {
  const practiceId = parsed.results[0]?.practiceId ?? '';
  const entry = practices.entry(practiceId);
  const facility = parsed.header.sendingFacility.namespaceId;
  if (
    entry?.routing.athenaPracticeId === undefined ||
    practices.hl7ResultIdIssuer(practiceId, facility) !== undefined
  ) {
    return parsed.results.map(() => undefined);
  }
  return parsed.results.map((result, i) => {
    const order = parsed.orders[i];
    if (order?.fillerOrderNumber === undefined || order.panelLoinc === undefined) return undefined;
    return { accession: order.fillerOrderNumber, panelLoinc: order.panelLoinc, patientId: result.patient.id };
  });
}

export function createHl7Ingest(deps: {
  handoff: Handoff;
  practices: PracticeRegistry;
  logger: Logger;
  now: () => Date;
}) {
  return async function ingestHl7(text: string): Promise<Hl7IngestOutcome> {
    const parsed = parseHl7ForPractice(text, deps.practices);
    if (!parsed.ok) {
      deps.logger.info(
        { hl7: { segment: parsed.error.segment, field: parsed.error.field, errorCode: parsed.error.errorCode } },
        'HL7 message refused',
      );
      const ack = buildAck(
        { header: parsed.header, rawMsh: text },
        { code: parsed.error.ackCode, problem: parsed.error },
        deps.now(),
      );
      return { ack, code: parsed.error.ackCode, workflowIds: [], duplicate: false, problem: parsed.error };
    }
    const { header, results } = parsed;
    const practiceId = results[0]?.practiceId ?? '';
    try {
      const outcome = await deps.handoff({
        source: 'hl7',
        practiceId,
        sender: hl7Sender(header),
        messageId: header.messageControlId,
        content: hl7RetransmissionFingerprint(text),
        results,
        links: hl7LinkKeys(parsed, deps.practices),
      });
      if (outcome.kind === 'accepted') {
        deps.logger.info(
          {
            workflowIds: outcome.workflowIds,
            duplicate: outcome.duplicate,
            linked: outcome.linkEvents.map((e) => e.outcome),
          },
          'HL7 results handed off',
        );
        return {
          ack: buildAck({ header }, { code: 'AA' }, deps.now()),
          code: 'AA',
          workflowIds: outcome.workflowIds,
          duplicate: outcome.duplicate,
        };
      }
      const problem: Hl7Problem =
        outcome.kind === 'conflict'
          ? {
              ackCode: 'AE',
              errorCode: Hl7ErrorCode.DUPLICATE_KEY_IDENTIFIER,
              segment: 'MSH',
              sequence: 1,
              field: 10,
              message:
                'MSH-10 (message control ID) was already used by this sender (MSH-3/MSH-4) for a different message: send a changed message with a new control ID',
            }
          : {
              ackCode: 'AR',
              errorCode: Hl7ErrorCode.TABLE_VALUE_NOT_FOUND,
              segment: 'MSH',
              sequence: 1,
              field: 4,
              message: 'MSH-4 (sending facility) is not a practice configured here',
              unknownPractice: true,
            };
      return {
        ack: buildAck({ header }, { code: problem.ackCode, problem }, deps.now()),
        code: problem.ackCode,
        workflowIds: [],
        duplicate: false,
        problem,
      };
    } catch (err) {
      // Temporal or the database is unavailable: AR tells the sender to keep the message and retry.
      deps.logger.error({ err }, 'HL7 hand-off failed');
      const problem: Hl7Problem = {
        ackCode: 'AR',
        errorCode: Hl7ErrorCode.APPLICATION_INTERNAL_ERROR,
        segment: '',
        message: 'temporarily unable to accept results; resend later',
      };
      return {
        ack: buildAck({ header }, { code: 'AR', problem }, deps.now()),
        code: 'AR',
        workflowIds: [],
        duplicate: false,
        problem,
      };
    }
  };
}

export type Hl7Ingest = ReturnType<typeof createHl7Ingest>;

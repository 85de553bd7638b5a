import type { Logger } from '../../lib/logger';
import type { PracticeRegistry } from '../../lib/practices';
import { buildAck, parseOru, Hl7ErrorCode, type Hl7Problem } from '../hl7';
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

export function createHl7Ingest(deps: {
  handoff: Handoff;
  practices: PracticeRegistry;
  logger: Logger;
  now: () => Date;
}) {
  return async function ingestHl7(text: string): Promise<Hl7IngestOutcome> {
    const parsed = parseOru(text, {
      practiceIdFor: (header) => deps.practices.byHl7Facility(header.sendingFacility.namespaceId)?.practiceId,
    });
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
    const { header } = parsed;
    const practiceId = parsed.results[0]?.practiceId ?? '';
    const entry = deps.practices.entry(practiceId);
    const facility = header.sendingFacility.namespaceId.toUpperCase();
    const arrivesSigned = entry?.routing.hl7ReviewedFacilities.some((f) => f.toUpperCase() === facility) ?? false;
    const results =
      entry === undefined
        ? parsed.results
        : parsed.results.map((r) => applyPracticeProviders(r, entry, { arrivesSigned }));
    try {
      const outcome = await deps.handoff({
        source: 'hl7',
        practiceId,
        messageId: header.messageControlId,
        rawBody: text,
        results,
      });
      if (outcome.kind === 'accepted') {
        deps.logger.info({ workflowIds: outcome.workflowIds, duplicate: outcome.duplicate }, 'HL7 results handed off');
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
              errorCode: Hl7ErrorCode.DATA_TYPE_ERROR,
              segment: 'MSH',
              sequence: 1,
              field: 10,
              message: 'MSH-10 (message control ID) was already used for a different message',
            }
          : {
              ackCode: 'AR',
              errorCode: Hl7ErrorCode.TABLE_VALUE_NOT_FOUND,
              segment: 'MSH',
              sequence: 1,
              field: 4,
              message: 'MSH-4 (sending facility) is not a practice configured here',
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

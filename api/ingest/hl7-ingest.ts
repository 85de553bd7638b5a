import type { AuditSink } from '../../lib/audit/types';
import type { Logger } from '../../lib/logger';
import type { PracticeEntry, PracticeRegistry } from '../../lib/practices';
import { senderHasFacility, senderMay, type AuthenticatedSender, type Sender } from '../../lib/senders';
import {
  ackReplyFor,
  buildAck,
  commitCode,
  fieldName,
  hl7RetransmissionFingerprint,
  hl7Sender,
  parseOru,
  Hl7ErrorCode,
  type AckInput,
  type AckOutcome,
  type Hl7Header,
  type Hl7Problem,
  type Hl7Warning,
  type ParseOutcome,
} from '../hl7';
import type { ResultLinkKey } from '../../lib/result-ref';
import type { Handoff } from '../../lib/ingest/handoff';
import { applyPracticeProviders } from '../../lib/ingest/provider-mapping';

/**
 * One HL7 v2 ORU^R01 in, one ACK out, for both transports (HTTPS and MLLP). AA only once every
 * result in the message is durably with Temporal; AE/AR name the segment and field otherwise, and
 * nothing is started for a refused message.
 */
export interface Hl7IngestOutcome {
  /** The reply to send; `''` when the sender asked for none (enhanced mode, MSH-15/16). */
  ack: string;
  code: 'AA' | 'AE' | 'AR';
  workflowIds: string[];
  duplicate: boolean;
  problem?: Hl7Problem;
  /** Fields ignored in an accepted message (ERR severity W in the ACK, a data-quality audit row). */
  warnings?: Hl7Warning[];
  /** The authenticated sender may not send for the facility (MSH-4) the message names: HTTP 403. */
  refusedSender?: boolean;
}

/**
 * Whether `sender`'s results from `facility` arrive signed: the sender is configured as one whose
 * results a provider already reviewed (athena's outbound ORU), may send as that facility, and the
 * practice lists the facility as a reviewed feed. MSH-4 alone never signs anything; and the signer
 * must still be a provider of the practice (applyPracticeProviders), or the result waits for the
 * review app.
 */
export function senderArrivesSigned(sender: Sender | undefined, entry: PracticeEntry, facility: string): boolean {
  if (sender?.arrivesSigned !== true || !senderHasFacility(sender, facility)) return false;
  const wanted = facility.toUpperCase();
  return entry.routing.hl7ReviewedFacilities.some((f) => f.toUpperCase() === wanted);
}

/**
 * Parses one ORU^R01 and applies the practice registry to its results: the practice from MSH-4, the
 * practice's staff ID for the ordering provider, "arrives signed" for a reviewed feed from a sender
 * configured as one (`sender`; without it nothing arrives signed), and the issuer of the result IDs
 * for facilities configured to carry another system's IDs (`hl7ResultIdIssuers`). Shared with the
 * tests that compute the workflow ID a message lands on.
 */
export function parseHl7ForPractice(
  text: string,
  practices: PracticeRegistry,
  options: { sender?: Sender } = {},
): ParseOutcome {
  const parsed = parseOru(text, {
    practiceIdFor: (header) => practices.byHl7Facility(header.sendingFacility.namespaceId)?.practiceId,
  });
  if (!parsed.ok) return parsed;
  const practiceId = parsed.results[0]?.practiceId ?? '';
  const entry = practices.entry(practiceId);
  if (entry === undefined) return parsed;
  const facility = parsed.header.sendingFacility.namespaceId;
  const arrivesSigned = senderArrivesSigned(options.sender, entry, facility);
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

/**
 * The ACK the sender asked for: the application ACK in original mode; in enhanced mode (MSH-15/16)
 * the commit ACK, the application ACK or nothing (`''`, which the transports send as no reply).
 * Enhanced mode is honoured for facilities whose practice turned it on
 * (`routing.hl7EnhancedAcknowledgements`): many feeds send `AL|NE` out of habit and expect AA.
 */
function acknowledge(
  input: AckInput,
  outcome: AckOutcome & { code: 'AA' | 'AE' | 'AR' },
  now: Date,
  enhanced: boolean,
): string {
  const reply = enhanced ? ackReplyFor(input.header, outcome.code) : 'application';
  if (reply === 'none') return '';
  return buildAck(input, reply === 'commit' ? { ...outcome, code: commitCode(outcome.code) } : outcome, now);
}

/**
 * A data-quality row per result of an accepted message with ignored fields: which fields and why
 * (table 0357 codes), never their values. Idempotent per result and message, so a retransmission
 * does not add rows.
 */
async function auditDataQuality(
  audit: Pick<AuditSink, 'append'>,
  parsed: Extract<ParseOutcome, { ok: true }>,
  workflowIds: readonly string[],
  occurredAt: string,
): Promise<void> {
  const fields = [...new Set(parsed.warnings.map(fieldName))];
  const errorCodes = [...new Set(parsed.warnings.map((w) => w.errorCode))];
  for (const [i, workflowId] of workflowIds.entries()) {
    const result = parsed.results[i];
    if (result === undefined) continue;
    await audit.append({
      occurredAt,
      practiceId: result.practiceId,
      workflowId,
      resultRef: workflowId.slice(workflowId.lastIndexOf('-') + 1),
      patientId: result.patient.id,
      actor: { type: 'source', id: 'hl7' },
      action: 'ingest',
      outcome: 'data-quality-warning',
      details: { messageId: parsed.header.messageControlId, fields, errorCodes },
      idempotencyKey: `hl7-data-quality:${workflowId}:${parsed.header.messageControlId}`,
    });
  }
}

/** MSH-4 as echoed in an ERR: a code, never at length. */
const MAX_ECHOED_FACILITY_LENGTH = 20;

export function createHl7Ingest(deps: {
  handoff: Handoff;
  practices: PracticeRegistry;
  logger: Logger;
  now: () => Date;
  /** Where ignored fields are audited (data quality). Absent: they are only logged and acknowledged. */
  audit?: Pick<AuditSink, 'append'>;
}) {
  const enhancedFor = (header: Hl7Header | undefined): boolean => {
    if (header === undefined) return false;
    const practice = deps.practices.byHl7Facility(header.sendingFacility.namespaceId);
    return (
      practice !== undefined && deps.practices.entry(practice.practiceId)?.routing.hl7EnhancedAcknowledgements === true
    );
  };
  /**
   * A message whose MSH-4 is a facility of a practice but not one of the sender's (or of a practice
   * it may not send for) is refused with AR naming MSH-4, audited as a refused sender, starts nothing.
   */
  async function refuseSender(text: string, header: Hl7Header, from: AuthenticatedSender): Promise<Hl7IngestOutcome> {
    const facility = header.sendingFacility.namespaceId;
    const practiceId = deps.practices.byHl7Facility(facility)?.practiceId;
    const problem: Hl7Problem = {
      ackCode: 'AR',
      errorCode: Hl7ErrorCode.TABLE_VALUE_NOT_FOUND,
      segment: 'MSH',
      sequence: 1,
      field: 4,
      message: `MSH-4 (sending facility) ${JSON.stringify(facility.slice(0, MAX_ECHOED_FACILITY_LENGTH))} is not a facility this sender (${from.sender.id}) may send for`,
    };
    deps.logger.warn(
      { sender: from.sender.id, channel: from.channel, practiceId, messageControlId: header.messageControlId },
      'HL7 message refused: sender outside its facilities',
    );
    try {
      await deps.audit?.append({
        occurredAt: deps.now().toISOString(),
        // The practice the message claims: its audit trail shows who tried to send for it.
        practiceId: practiceId ?? from.sender.practices[0] ?? null,
        actor: { type: 'source', id: 'hl7' },
        action: 'ingest',
        outcome: 'refused-sender',
        details: {
          sender: from.sender.id,
          senderChannel: from.channel,
          facility: facility.slice(0, MAX_ECHOED_FACILITY_LENGTH),
          messageId: header.messageControlId.slice(0, 64),
          reason: 'facility-outside-sender-scope',
        },
      });
    } catch (err) {
      // The refusal stands (nothing is started); the sender resends and is audited then.
      deps.logger.error({ err }, 'refused-sender audit failed');
    }
    return {
      ack: buildAck({ header, rawMsh: text }, { code: 'AR', problem }, deps.now()),
      code: 'AR',
      workflowIds: [],
      duplicate: false,
      problem,
      refusedSender: true,
    };
  }

  /** `from`: the sender the transport authenticated (token, client certificate or listed source). */
  return async function ingestHl7(text: string, from: AuthenticatedSender): Promise<Hl7IngestOutcome> {
    const parsed = parseHl7ForPractice(text, deps.practices, { sender: from.sender });
    const enhanced = enhancedFor(parsed.header);
    const claimed = parsed.header;
    if (claimed !== undefined && claimed.sendingFacility.namespaceId !== '') {
      const facility = claimed.sendingFacility.namespaceId;
      const practice = deps.practices.byHl7Facility(facility);
      // A facility no practice has is answered as before (AR naming MSH-4, HTTP 422): configuration,
      // not a sender's overreach. One that exists but is not the sender's is a refused sender.
      if (
        practice !== undefined &&
        (!senderHasFacility(from.sender, facility) || !senderMay(from.sender, 'ingest', practice.practiceId))
      ) {
        return refuseSender(text, claimed, from);
      }
    }
    if (!parsed.ok) {
      deps.logger.info(
        { hl7: { segment: parsed.error.segment, field: parsed.error.field, errorCode: parsed.error.errorCode } },
        'HL7 message refused',
      );
      const ack = acknowledge(
        { header: parsed.header, rawMsh: text },
        { code: parsed.error.ackCode, problem: parsed.error },
        deps.now(),
        enhanced,
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
        authenticatedSender: { id: from.sender.id, channel: from.channel },
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
        const { warnings } = parsed;
        if (warnings.length > 0) {
          deps.logger.info({ hl7: { ignoredFields: warnings.map(fieldName) } }, 'HL7 message accepted with warnings');
          // Before the ACK: a crash in between means a resend, and the key keeps the row single.
          if (deps.audit !== undefined) {
            await auditDataQuality(deps.audit, parsed, outcome.workflowIds, deps.now().toISOString());
          }
        }
        return {
          ack: acknowledge({ header }, { code: 'AA', warnings }, deps.now(), enhanced),
          code: 'AA',
          workflowIds: outcome.workflowIds,
          duplicate: outcome.duplicate,
          ...(warnings.length > 0 ? { warnings } : {}),
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
        ack: acknowledge({ header }, { code: problem.ackCode, problem }, deps.now(), enhanced),
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
        ack: acknowledge({ header }, { code: 'AR', problem }, deps.now(), enhanced),
        code: 'AR',
        workflowIds: [],
        duplicate: false,
        problem,
      };
    }
  };
}

export type Hl7Ingest = ReturnType<typeof createHl7Ingest>;

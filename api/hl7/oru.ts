import type { LabResult, Observation, PatientContact, ProviderRef } from '../../domain/lab-result';
import { parseHl7DateTime } from './datetime';
import type { Hl7Header } from './header';
import { tokenise } from './message';
import { readObservation } from './observation';
import { readPatient } from './patient';
import { Hl7ErrorCode, hl7Problem, hl7Warning, type Hl7Problem, type Hl7Warning } from './problem';
import type { Hl7Reader, Hl7Segment } from './segments';
import { groupStatus } from './status';

/** HL7 versions whose ORU^R01 layout (v2.5.1 field positions) we read correctly. */
export const SUPPORTED_HL7_VERSIONS: readonly string[] = ['2.3', '2.3.1', '2.4', '2.5', '2.5.1'];
/** Table 0103 processing IDs: production, training, debugging. */
export const PROCESSING_IDS: readonly string[] = ['P', 'T', 'D'];

/**
 * What an OBR group says about the order beyond the typed result, for linking it to the same result
 * seen through athena (lib/ingest/result-links.ts): the filler order number (OBR-3.1, the lab's
 * accession; absent when the result is identified by its placer number) and the panel's LOINC (OBR-4
 * coded `LN`, or its alternate identifier when that is).
 */
export interface Hl7OrderKeys {
  fillerOrderNumber?: string;
  panelLoinc?: string;
}

export type ParseOutcome =
  | {
      ok: true;
      header: Hl7Header;
      results: LabResult[];
      /** Per result (same index). */
      orders: Hl7OrderKeys[];
      /** Malformed fields that routing does not need: accepted, answered AA with ERR severity W. */
      warnings: Hl7Warning[];
    }
  | { ok: false; header?: Hl7Header; error: Hl7Problem };

export interface ParseOruOptions {
  /**
   * Which practice sent this message. Defaults to MSH-4's first component. Returning `undefined`
   * (an unknown facility) rejects the message with AR: it is our configuration, not the content.
   */
  practiceIdFor?: (header: Hl7Header) => string | undefined;
}

/** Codes sent by the other side are echoed in messages, but never at length. */
const MAX_ECHOED_CODE_LENGTH = 20;

function quoteCode(code: string): string {
  return JSON.stringify(code.slice(0, MAX_ECHOED_CODE_LENGTH));
}

/** One `[ORC] OBR {NTE} {OBX {NTE}}` group and the PID it belongs to. */
interface OrderGroup {
  pid: Hl7Segment;
  orc?: Hl7Segment;
  obr: Hl7Segment;
  observations: Observation[];
  comments: string[];
}

/**
 * Parses an HL7 v2 (2.3 to 2.5.1) ORU^R01 message into one LabResult per OBR group. Never throws:
 * anything wrong is an `Hl7Problem` naming the segment and field, ready for `buildAck`. The
 * tokeniser is our own, not @medplum/core's Hl7Message: message.ts says why.
 */
export function parseOru(text: string, options: ParseOruOptions = {}): ParseOutcome {
  try {
    return parseOruUnsafe(text, options);
  } catch {
    // Defence in depth: the parser is written to be total, but a bug must become an AR (the sender
    // keeps the message and retries later), never a crashed connection.
    return {
      ok: false,
      error: hl7Problem('AR', Hl7ErrorCode.APPLICATION_INTERNAL_ERROR, 'the message could not be processed', {
        segment: '',
      }),
    };
  }
}

function parseOruUnsafe(text: string, options: ParseOruOptions): ParseOutcome {
  const tokens = tokenise(text);
  if (!tokens.ok) return tokens;
  const { header, reader, segments } = tokens;
  const fail = (error: Hl7Problem): ParseOutcome => ({ ok: false, header, error });

  const envelopeProblem = checkEnvelope(header);
  if (envelopeProblem !== undefined) return fail(envelopeProblem);

  const practiceId =
    options.practiceIdFor === undefined ? header.sendingFacility.namespaceId : options.practiceIdFor(header);
  if (practiceId === undefined || practiceId === '') {
    return fail(
      options.practiceIdFor === undefined
        ? hl7Problem('AR', Hl7ErrorCode.REQUIRED_FIELD_MISSING, 'MSH-4 (sending facility) is missing: no practice', {
            segment: 'MSH',
            sequence: 1,
            field: 4,
          })
        : header.sendingFacility.namespaceId === ''
          ? hl7Problem('AR', Hl7ErrorCode.REQUIRED_FIELD_MISSING, 'MSH-4 (sending facility) is missing: no practice', {
              segment: 'MSH',
              sequence: 1,
              field: 4,
            })
          : {
              ...hl7Problem(
                'AR',
                Hl7ErrorCode.TABLE_VALUE_NOT_FOUND,
                'MSH-4 (sending facility) is not a known practice',
                {
                  segment: 'MSH',
                  sequence: 1,
                  field: 4,
                },
              ),
              unknownPractice: true,
            },
    );
  }

  const grouped = groupSegments(reader, segments);
  if (!grouped.ok) return fail(grouped.problem);

  const patients = new Map<Hl7Segment, PatientContact>();
  const results: LabResult[] = [];
  const orders: Hl7OrderKeys[] = [];
  const warnings: Hl7Warning[] = [];
  for (const group of grouped.groups) {
    let patient = patients.get(group.pid);
    if (patient === undefined) {
      const read = readPatient(reader, group.pid);
      if (!read.ok) return fail(read.problem);
      patient = read.patient;
      warnings.push(...read.warnings);
      patients.set(group.pid, patient);
    }
    // A copy per result: results sharing a PID must not share (and so alias) one object.
    const built = buildResult(reader, header, practiceId, { ...patient }, group);
    if (!built.ok) return fail(built.problem);
    warnings.push(...built.warnings);
    const same = results.find((r) => sameOrder(r, built.result));
    if (same !== undefined) {
      const merged = mergeRepeatedOrder(same, built.result, group.obr.occurrence);
      if (merged !== undefined) return fail(merged);
      continue;
    }
    results.push(built.result);
    orders.push(orderKeys(reader, group.obr));
  }
  return { ok: true, header, results, orders, warnings };
}

/** MSH-9, MSH-12, MSH-11 (AR: an envelope we do not take, whatever the content) and MSH-10 (AE). */
function checkEnvelope(header: Hl7Header): Hl7Problem | undefined {
  const msh = (field: number, component?: number) => ({
    segment: 'MSH',
    sequence: 1,
    field,
    ...(component === undefined ? {} : { component }),
  });
  if (header.messageType === '') {
    return hl7Problem('AR', Hl7ErrorCode.REQUIRED_FIELD_MISSING, 'MSH-9 (message type) is missing', msh(9, 1));
  }
  if (header.messageType.toUpperCase() !== 'ORU') {
    return hl7Problem(
      'AR',
      Hl7ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
      `MSH-9 (message type) ${quoteCode(`${header.messageType}^${header.triggerEvent}`)} is not supported: only ORU^R01 is accepted`,
      msh(9, 1),
    );
  }
  if (header.triggerEvent.toUpperCase() !== 'R01') {
    return hl7Problem(
      'AR',
      Hl7ErrorCode.UNSUPPORTED_EVENT_CODE,
      `MSH-9.2 (trigger event) ${quoteCode(header.triggerEvent)} is not supported: only ORU^R01 is accepted`,
      msh(9, 2),
    );
  }
  if (header.version === '') {
    return hl7Problem('AR', Hl7ErrorCode.REQUIRED_FIELD_MISSING, 'MSH-12 (version ID) is missing', msh(12, 1));
  }
  if (!SUPPORTED_HL7_VERSIONS.includes(header.version)) {
    return hl7Problem(
      'AR',
      Hl7ErrorCode.UNSUPPORTED_VERSION_ID,
      `MSH-12 (version ID) ${quoteCode(header.version)} is not supported: expected one of ${SUPPORTED_HL7_VERSIONS.join(', ')}`,
      msh(12, 1),
    );
  }
  if (header.processingId === '') {
    return hl7Problem('AR', Hl7ErrorCode.REQUIRED_FIELD_MISSING, 'MSH-11 (processing ID) is missing', msh(11, 1));
  }
  if (!PROCESSING_IDS.includes(header.processingId.toUpperCase())) {
    return hl7Problem(
      'AR',
      Hl7ErrorCode.UNSUPPORTED_PROCESSING_ID,
      `MSH-11 (processing ID) ${quoteCode(header.processingId)} is not supported: expected P, T or D`,
      msh(11, 1),
    );
  }
  if (header.messageControlId === '') {
    return hl7Problem('AE', Hl7ErrorCode.REQUIRED_FIELD_MISSING, 'MSH-10 (message control ID) is missing', msh(10));
  }
  return undefined;
}

/**
 * Walks `MSH {PID ... {[ORC] OBR {NTE} {OBX {NTE}}}}`. Segments we do not use (SFT, PD1, PV1, TQ1,
 * SPM, Z-segments ...) are skipped; the order of the ones we use is enforced.
 */
function groupSegments(
  reader: Hl7Reader,
  segments: readonly Hl7Segment[],
): { ok: true; groups: OrderGroup[] } | { ok: false; problem: Hl7Problem } {
  const groups: OrderGroup[] = [];
  let pid: Hl7Segment | undefined;
  let orc: Hl7Segment | undefined;
  let group: OrderGroup | undefined;
  let lastObservation: Observation | undefined;
  const sequenceError = (segment: Hl7Segment, message: string) => ({
    ok: false as const,
    problem: hl7Problem('AE', Hl7ErrorCode.SEGMENT_SEQUENCE_ERROR, message, {
      segment: segment.id,
      sequence: segment.occurrence,
    }),
  });

  for (const segment of segments.slice(1)) {
    switch (segment.id) {
      case 'MSH':
        return sequenceError(
          segment,
          `MSH at line ${segment.line} starts a second message: send one message at a time`,
        );
      case 'PID':
        pid = segment;
        orc = undefined;
        group = undefined;
        break;
      case 'ORC':
        orc = segment;
        group = undefined;
        break;
      case 'OBR':
        if (pid === undefined) {
          return {
            ok: false,
            problem: hl7Problem('AE', Hl7ErrorCode.SEGMENT_SEQUENCE_ERROR, 'PID segment is missing before OBR', {
              segment: 'PID',
            }),
          };
        }
        group = { pid, obr: segment, observations: [], comments: [], ...(orc === undefined ? {} : { orc }) };
        orc = undefined;
        lastObservation = undefined;
        groups.push(group);
        break;
      case 'OBX': {
        if (group === undefined) {
          return sequenceError(
            segment,
            `OBX at line ${segment.line} is not inside an OBR group (OBX must follow its OBR)`,
          );
        }
        const read = readObservation(reader, segment);
        if (!read.ok) return read;
        group.observations.push(read.observation);
        lastObservation = read.observation;
        break;
      }
      case 'NTE': {
        const comment = reader
          .repetitions(segment, 3)
          .map((rep) => reader.text(rep))
          .join('\n')
          .trim();
        if (comment === '' || group === undefined) break; // patient-level notes are not result comments
        if (lastObservation !== undefined) (lastObservation.comments ??= []).push(comment);
        else group.comments.push(comment);
        break;
      }
      default:
        break;
    }
  }
  if (groups.length === 0) {
    const problem =
      pid === undefined
        ? hl7Problem('AE', Hl7ErrorCode.SEGMENT_SEQUENCE_ERROR, 'PID and OBR segments are missing', { segment: 'PID' })
        : hl7Problem('AE', Hl7ErrorCode.SEGMENT_SEQUENCE_ERROR, 'OBR segment is missing: ORU^R01 needs at least one', {
            segment: 'OBR',
          });
    return { ok: false, problem };
  }
  return { ok: true, groups };
}

function buildResult(
  reader: Hl7Reader,
  header: Hl7Header,
  practiceId: string,
  patient: PatientContact,
  group: OrderGroup,
): { ok: true; result: LabResult; warnings: Hl7Warning[] } | { ok: false; problem: Hl7Problem } {
  const { obr } = group;
  const warnings: Hl7Warning[] = [];
  const at = (field: number) => ({ segment: 'OBR', sequence: obr.occurrence, field });
  // EI: entity identifier ^ namespace ID ^ universal ID ^ universal ID type.
  const idField = reader.value(obr, 3, 1) !== '' ? 3 : 2;
  const resultId = reader.value(obr, idField, 1);
  if (resultId === '') {
    return {
      ok: false,
      problem: hl7Problem(
        'AE',
        Hl7ErrorCode.REQUIRED_FIELD_MISSING,
        'OBR-3 (filler order number) is missing, and so is OBR-2 (placer order number)',
        at(3),
      ),
    };
  }
  const rawStatus = reader.value(obr, 25);
  const result: LabResult = {
    source: 'hl7',
    practiceId,
    resultId,
    resultIdIssuer: resultIdIssuer(reader, obr, idField, header),
    messageId: header.messageControlId,
    status: groupStatus(rawStatus, group.observations),
    patient,
    observations: group.observations,
  };
  if (rawStatus !== '') result.rawStatus = rawStatus;

  const rawReportedAt = reader.value(obr, 22);
  if (rawReportedAt !== '') {
    const reportedAt = parseHl7DateTime(rawReportedAt);
    // Routing does without it: an undated version of a correction needs a provider's sign-off.
    if (reportedAt === undefined) {
      warnings.push(
        hl7Warning(
          Hl7ErrorCode.DATA_TYPE_ERROR,
          'OBR-22 (results report/status change date/time) is not a valid HL7 date/time: ignored',
          at(22),
        ),
      );
    } else result.reportedAt = reportedAt;
  }

  const panelCode = reader.value(obr, 4, 1) || reader.value(obr, 4, 4);
  const panelName = reader.value(obr, 4, 2) || reader.value(obr, 4, 5);
  if (panelCode !== '') result.panelCode = panelCode;
  if (panelName !== '') result.panelName = panelName;

  const provider =
    orderingProvider(reader, obr) ?? (group.orc === undefined ? undefined : orderingProvider(reader, group.orc));
  if (provider !== undefined) result.orderingProvider = provider;
  if (group.comments.length > 0) result.comments = group.comments;
  return { ok: true, result, warnings };
}

/** Two OBR groups of one message with the same filler (or placer) number and issuer are one order. */
function sameOrder(a: LabResult, b: LabResult): boolean {
  return a.resultId === b.resultId && (a.resultIdIssuer ?? '') === (b.resultIdIssuer ?? '');
}

/**
 * Some labs repeat an order's OBR for each panel under one filler number. A filler number names one
 * order, so its groups are one result: the later group's observations and comments join the first
 * group's result (nothing is ignored). Groups that disagree on the patient or the status cannot be
 * one result and are refused, naming the repeated group's OBR-3.
 */
function mergeRepeatedOrder(into: LabResult, next: LabResult, occurrence: number): Hl7Problem | undefined {
  const where = { segment: 'OBR', sequence: occurrence, field: 3 };
  if (into.patient.id !== next.patient.id) {
    return hl7Problem(
      'AE',
      Hl7ErrorCode.DUPLICATE_KEY_IDENTIFIER,
      'OBR-3 (filler order number) repeats an earlier OBR group of this message for another patient',
      where,
    );
  }
  if (into.status !== next.status) {
    return hl7Problem(
      'AE',
      Hl7ErrorCode.DUPLICATE_KEY_IDENTIFIER,
      `OBR-3 (filler order number) repeats an earlier OBR group of this message with another result status (${next.status}, not ${into.status})`,
      where,
    );
  }
  into.observations = [...into.observations, ...next.observations];
  if (next.comments !== undefined) into.comments = [...(into.comments ?? []), ...next.comments];
  return undefined;
}

/**
 * Who assigned the result ID: the EI's own assigning authority (namespace ID, else universal ID),
 * else the sending facility (MSH-4), which is who numbers filler orders when the EI does not say.
 * A filler number is unique only within its issuer, so two labs' equal numbers stay two results.
 */
function resultIdIssuer(reader: Hl7Reader, obr: Hl7Segment, idField: 2 | 3, header: Hl7Header): string {
  return (
    reader.value(obr, idField, 2) ||
    reader.value(obr, idField, 3) ||
    header.sendingFacility.namespaceId ||
    (header.sendingFacility.universalId ?? '')
  );
}

/** Coding-system names (CWE-3, CWE-6) under which a code is a LOINC. */
const LOINC_SYSTEMS: ReadonlySet<string> = new Set(['LN', 'LOINC']);

function orderKeys(reader: Hl7Reader, obr: Hl7Segment): Hl7OrderKeys {
  const keys: Hl7OrderKeys = {};
  const filler = reader.value(obr, 3, 1);
  if (filler !== '') keys.fillerOrderNumber = filler;
  for (const [code, system] of [
    [1, 3],
    [4, 6],
  ] as const) {
    const value = reader.value(obr, 4, code);
    if (value !== '' && LOINC_SYSTEMS.has(reader.value(obr, 4, system).toUpperCase())) {
      keys.panelLoinc = value;
      break;
    }
  }
  return keys;
}

/** XCN `id^family^given` from OBR-16 or ORC-12. A provider without an ID cannot be routed to. */
function orderingProvider(reader: Hl7Reader, segment: Hl7Segment): ProviderRef | undefined {
  const field = segment.id === 'OBR' ? 16 : 12;
  const id = reader.value(segment, field, 1);
  if (id === '') return undefined;
  const name = [reader.value(segment, field, 3), reader.value(segment, field, 2)].filter((n) => n !== '').join(' ');
  return name === '' ? { id } : { id, name };
}

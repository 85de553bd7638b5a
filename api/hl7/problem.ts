/**
 * What is wrong with an inbound HL7 message, in the shape an ACK's ERR segment needs. Messages
 * name segments and fields, never values: they end up in logs and ACKs, and a value (a name, a
 * date of birth, a test result) is PHI.
 */

/** HL7 table 0357 (message error condition codes) entries this parser reports. */
export const Hl7ErrorCode = {
  SEGMENT_SEQUENCE_ERROR: 100,
  REQUIRED_FIELD_MISSING: 101,
  DATA_TYPE_ERROR: 102,
  TABLE_VALUE_NOT_FOUND: 103,
  UNSUPPORTED_MESSAGE_TYPE: 200,
  UNSUPPORTED_EVENT_CODE: 201,
  UNSUPPORTED_PROCESSING_ID: 202,
  UNSUPPORTED_VERSION_ID: 203,
  /** A key (here: MSH-10 under one sender) that was already used: a reused control ID for another message. */
  DUPLICATE_KEY_IDENTIFIER: 205,
  APPLICATION_INTERNAL_ERROR: 207,
} as const;
export type Hl7ErrorCode = (typeof Hl7ErrorCode)[keyof typeof Hl7ErrorCode];

/** Table 0357 display text, written into ERR-3.2. */
export const HL7_ERROR_TEXT: Readonly<Record<Hl7ErrorCode, string>> = {
  100: 'Segment sequence error',
  101: 'Required field missing',
  102: 'Data type error',
  103: 'Table value not found',
  200: 'Unsupported message type',
  201: 'Unsupported event code',
  202: 'Unsupported processing id',
  203: 'Unsupported version id',
  205: 'Duplicate key identifier',
  207: 'Application internal error',
};

export interface Hl7Problem {
  /** AR: the envelope (MSH-9/11/12, routing) or the receiver is at fault; AE: the content is. */
  ackCode: 'AE' | 'AR';
  /** Segment ID at fault; '' when the problem is the message as a whole (e.g. too large). */
  segment: string;
  /** 1-based occurrence of that segment in the message. */
  sequence?: number;
  field?: number;
  component?: number;
  errorCode: Hl7ErrorCode;
  /** Human-readable, names the segment and field, e.g. `PID-3 (patient identifier list) is missing`. */
  message: string;
  /**
   * The message is well-formed but names a practice (MSH-4) not configured here: the HTTPS route
   * answers 422, as the FHIR route and the athena webhook do for an unknown practice.
   */
  unknownPractice?: true;
}

/** Builds a problem; `location` is optional because some problems concern a whole segment. */
export function hl7Problem(
  ackCode: Hl7Problem['ackCode'],
  errorCode: Hl7ErrorCode,
  message: string,
  location: { segment: string; sequence?: number; field?: number; component?: number },
): Hl7Problem {
  return { ackCode, errorCode, message, ...location };
}

/**
 * Something wrong with a field labloop does not need to route the result (a malformed date of
 * birth, a report time that is not a date): the message is accepted (AA) and the ACK carries an ERR
 * of severity W naming the field; the field is left out of the result. Names fields, never values.
 */
export interface Hl7Warning {
  segment: string;
  sequence?: number;
  field?: number;
  component?: number;
  errorCode: Hl7ErrorCode;
  message: string;
}

/** Builds a warning (see {@link Hl7Warning}). */
export function hl7Warning(
  errorCode: Hl7ErrorCode,
  message: string,
  location: { segment: string; sequence?: number; field?: number; component?: number },
): Hl7Warning {
  return { errorCode, message, ...location };
}

/** `PID-7`, `OBR[2]-22`: where a warning or problem is, for audit rows and logs. */
export function fieldName(location: { segment: string; sequence?: number; field?: number }): string {
  const occurrence = location.sequence !== undefined && location.sequence > 1 ? `[${location.sequence}]` : '';
  return `${location.segment}${occurrence}${location.field === undefined ? '' : `-${location.field}`}`;
}

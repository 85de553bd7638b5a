/**
 * Twilio error codes this system acts on, and what each means for a retry. Descriptions are ours,
 * never Twilio's message text, because Twilio's messages can quote the phone number (PHI).
 * Codes: https://www.twilio.com/docs/api/errors (see docs/reference external-systems.md §4.3).
 */

/**
 * Carrier and registration refusals Twilio reports either on the create or later in a status
 * callback: permanent either way, so both permanent tables carry them.
 */
const PERMANENT_CARRIER_ERROR_CODES = {
  30005: 'unknown or inactive destination number',
  30006: 'landline or unreachable carrier',
  30007: 'carrier filtered the message',
  30034: 'sender is an unregistered US 10DLC number',
} as const satisfies Record<number, string>;

/** Errors on message create that no retry will fix: fall back to another channel instead. */
export const PERMANENT_SEND_ERROR_CODES = {
  21211: 'invalid To number',
  21408: 'sending to this region is not enabled on the account',
  21610: 'recipient opted out (replied STOP) from this sender',
  21612: 'To number is not reachable from this sender',
  21614: 'To number is not a mobile number',
  ...PERMANENT_CARRIER_ERROR_CODES,
} as const satisfies Record<number, string>;

/** Errors on message create that mean "not processed, try again later". */
export const RETRYABLE_SEND_ERROR_CODES = {
  20429: 'too many concurrent requests (safe to retry after backing off)',
  20500: 'Twilio internal server error',
  20503: 'Twilio service unavailable',
} as const satisfies Record<number, string>;

/**
 * Delivery error codes carried by status callbacks (`ErrorCode` on undelivered/failed). Transient ones
 * may succeed on a later attempt (handset off, congestion, throughput caps); permanent ones will not.
 */
export const TRANSIENT_DELIVERY_ERROR_CODES = {
  30001: 'queue overflow',
  30003: 'unreachable destination handset (often off or out of coverage)',
  30008: 'unknown delivery error',
  30009: 'missing segment',
  30017: 'carrier network congestion',
  30022: 'US A2P 10DLC throughput exceeded',
  30023: 'US A2P 10DLC daily cap reached',
} as const satisfies Record<number, string>;

export const PERMANENT_DELIVERY_ERROR_CODES = {
  21610: 'recipient opted out (replied STOP)',
  30002: 'account suspended',
  30004: 'message blocked by the recipient or carrier',
  30032: 'toll-free number not verified',
  ...PERMANENT_CARRIER_ERROR_CODES,
} as const satisfies Record<number, string>;

export type PermanentSendErrorCode = keyof typeof PERMANENT_SEND_ERROR_CODES;
export type RetryableSendErrorCode = keyof typeof RETRYABLE_SEND_ERROR_CODES;

function hasCode<T extends object>(table: T, code: number): code is number & keyof T {
  return Object.prototype.hasOwnProperty.call(table, code);
}

export function isPermanentSendErrorCode(code: number): code is PermanentSendErrorCode {
  return hasCode(PERMANENT_SEND_ERROR_CODES, code);
}

export function isRetryableSendErrorCode(code: number): code is RetryableSendErrorCode {
  return hasCode(RETRYABLE_SEND_ERROR_CODES, code);
}

/**
 * Classify a status-callback `ErrorCode`. Codes not in either table count as permanent: falling back
 * to another channel is the safe reaction to a failure we do not understand, whereas retrying the
 * same text could pester the patient or keep failing silently.
 */
export function classifyDeliveryErrorCode(code: number | string): 'permanent' | 'transient' {
  const numeric = typeof code === 'string' ? Number.parseInt(code, 10) : code;
  if (Number.isFinite(numeric) && hasCode(TRANSIENT_DELIVERY_ERROR_CODES, numeric)) return 'transient';
  return 'permanent';
}

/**
 * Why Twilio or a carrier refused a text for good, in the three kinds the workflow reacts to
 * differently (docs/reference external-systems.md §4.3, §4.6):
 *  - `invalid-number`: this number cannot take texts at all (invalid, landline, inactive);
 *  - `opted-out`: the recipient replied STOP to Twilio (21610), a consent change, not an error;
 *  - `blocked`: the message or our sender is refused (filtering, unregistered 10DLC, unverified
 *    toll-free, region or account restrictions): usually our setup, not the patient's number.
 * Every permanent code in the tables above has a kind here; a code missing from this table is
 * still permanent (see classifyDeliveryErrorCode) but of no particular kind.
 */
export const SMS_REFUSAL_KIND_BY_CODE = {
  21211: 'invalid-number',
  21614: 'invalid-number',
  30005: 'invalid-number',
  30006: 'invalid-number',
  21610: 'opted-out',
  21408: 'blocked',
  21612: 'blocked',
  30002: 'blocked',
  30004: 'blocked',
  30007: 'blocked',
  30032: 'blocked',
  30034: 'blocked',
} as const satisfies Record<number, 'invalid-number' | 'opted-out' | 'blocked'>;

export type SmsRefusalKind = (typeof SMS_REFUSAL_KIND_BY_CODE)[keyof typeof SMS_REFUSAL_KIND_BY_CODE];

/** The refusal kind of a Twilio error code (create error or callback `ErrorCode`), if it has one. */
export function smsRefusalKind(code: number | string | undefined): SmsRefusalKind | undefined {
  if (code === undefined) return undefined;
  const numeric = typeof code === 'string' ? Number.parseInt(code, 10) : code;
  return Number.isFinite(numeric) && hasCode(SMS_REFUSAL_KIND_BY_CODE, numeric)
    ? SMS_REFUSAL_KIND_BY_CODE[numeric]
    : undefined;
}

/** A short, PHI-free description of a Twilio error code, for logs and error messages. */
export function describeTwilioErrorCode(code: number): string {
  if (hasCode(PERMANENT_SEND_ERROR_CODES, code)) return PERMANENT_SEND_ERROR_CODES[code];
  if (hasCode(RETRYABLE_SEND_ERROR_CODES, code)) return RETRYABLE_SEND_ERROR_CODES[code];
  if (hasCode(TRANSIENT_DELIVERY_ERROR_CODES, code)) return TRANSIENT_DELIVERY_ERROR_CODES[code];
  if (hasCode(PERMANENT_DELIVERY_ERROR_CODES, code)) return PERMANENT_DELIVERY_ERROR_CODES[code];
  return 'unlisted Twilio error';
}

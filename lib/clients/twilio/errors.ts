import twilio from 'twilio';
import TwilioServiceException from 'twilio/lib/base/TwilioServiceException';
import { describeTwilioErrorCode, isPermanentSendErrorCode, isRetryableSendErrorCode } from './error-codes';

export type TwilioErrorKind = 'permanent' | 'retryable';

export interface TwilioSendErrorDetails {
  kind: TwilioErrorKind;
  /** Twilio's error code (21211, 21610, 20429, …) when the API answered with one. */
  code?: number;
  httpStatus?: number;
  /** How long Twilio asked us to wait (from `Retry-After`), in milliseconds. */
  retryAfterMs?: number;
  /**
   * True when the request may have reached Twilio and created the message anyway (the connection
   * dropped or timed out after the POST was written, or a POST was answered with a 5xx). Messages have no idempotency key, so the
   * caller must look for the message with `findRecentMessages` before sending again.
   */
  ambiguous?: boolean;
  /** Network error code (ECONNREFUSED, ECONNABORTED, …) when there was no HTTP answer. */
  networkCode?: string;
}

/**
 * A failed Twilio call, classified for the caller's retry decision. It deliberately carries no
 * `cause`: Twilio's error text can quote the phone number, and an axios error holds the request
 * body (To, Body), so attaching either would put PHI into any log that serialises the error.
 */
export class TwilioSendError extends Error {
  readonly kind: TwilioErrorKind;
  readonly code?: number;
  readonly httpStatus?: number;
  readonly retryAfterMs?: number;
  readonly ambiguous: boolean;
  readonly networkCode?: string;

  constructor(message: string, details: TwilioSendErrorDetails) {
    super(message);
    this.name = 'TwilioSendError';
    this.kind = details.kind;
    this.code = details.code;
    this.httpStatus = details.httpStatus;
    this.retryAfterMs = details.retryAfterMs;
    this.ambiguous = details.ambiguous ?? false;
    this.networkCode = details.networkCode;
  }
}

/**
 * Network errors that prove the request never reached Twilio (no connection was made), so even a
 * POST is unambiguous. Anything else after the request may have been written (timeout, reset,
 * socket hang up) leaves a POST ambiguous.
 */
const NOT_SENT_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

/** Parse `Retry-After` (delta-seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

export interface ObservedResponse {
  statusCode: number;
  headers: Record<string, string | undefined>;
}

function errorCodeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const { code } = error;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Turn whatever the twilio package threw into a `TwilioSendError`.
 *
 * @param operation what we were doing, for the message ("create message", "list messages", …)
 * @param method POST is the only method where a lost response leaves the outcome unknown
 * @param response the last HTTP response seen for this call, for `Retry-After`
 */
export function toTwilioSendError(
  error: unknown,
  operation: string,
  method: 'GET' | 'POST',
  response?: ObservedResponse,
): TwilioSendError {
  if (error instanceof TwilioSendError) return error;

  if (error instanceof twilio.RestException || error instanceof TwilioServiceException) {
    const httpStatus = error.status;
    const code = typeof error.code === 'number' ? error.code : undefined;
    const retryAfterMs = parseRetryAfter(response?.headers['retry-after']);
    const retryable =
      httpStatus === 429 ||
      httpStatus >= 500 ||
      (code !== undefined && isRetryableSendErrorCode(code) && !isPermanentSendErrorCode(code));
    const what = code !== undefined ? `${code} ${describeTwilioErrorCode(code)}` : 'no error code';
    // A 5xx answer to a POST says nothing about whether the message was created before the failure
    // (an edge or proxy can fail after Twilio's core accepted it), so it is as ambiguous as a
    // timeout. A 429 is documented as "not processed" (§4.3), and a 4xx is a refusal.
    const ambiguous = method === 'POST' && httpStatus >= 500;
    return new TwilioSendError(
      `Twilio ${operation} failed: HTTP ${httpStatus} (${what})${ambiguous ? '; the request may have been processed' : ''}`,
      { kind: retryable ? 'retryable' : 'permanent', code, httpStatus, retryAfterMs, ambiguous },
    );
  }

  const networkCode = errorCodeOf(error);
  const neverSent = networkCode !== undefined && NOT_SENT_NETWORK_CODES.has(networkCode);
  const ambiguous = method === 'POST' && !neverSent;
  const reason = networkCode ?? (error instanceof Error ? error.name : 'unknown error');
  return new TwilioSendError(
    `Twilio ${operation} failed without an HTTP answer (${reason})${ambiguous ? '; the request may have been processed' : ''}`,
    { kind: 'retryable', ambiguous, networkCode },
  );
}

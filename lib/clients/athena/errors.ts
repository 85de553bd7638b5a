/**
 * The one error type the athenahealth client throws. Callers (activities) branch on `kind`, never on
 * HTTP status codes, so the retry/reconcile decision lives here once:
 *
 * - `auth`: credentials or token refused (after one refresh-and-retry); an operator must act.
 * - `not-found`: the practice, patient or document does not exist (athena answered 404).
 * - `permanent`: athena refused the request as given (4xx, `success: false`, unparseable body); retrying
 *   the same request cannot help.
 * - `retryable`: throttled, unavailable or unreachable, and retries inside the client were used up; a
 *   later retry (e.g. Temporal's) may succeed. Nothing was written.
 * - `ambiguous`: a non-idempotent write may or may not have landed (timeout, 5xx or a dropped connection
 *   after the request was sent). athena has no idempotency keys, so the caller must reconcile by reading
 *   (e.g. `findPatientCases` with its marker) before it tries again.
 *
 * The message carries only what is safe wherever an error goes (logs, dead letters, audit details,
 * Temporal failures): the operation, the kind, the HTTP status, athena's error code and the request
 * ID, plus labloop's own description of what went wrong (`detail`). athena's own wording
 * (`detailedmessage`, `errormessage`) is kept in {@link AthenaError.vendorMessage}, which is not
 * enumerable and not in the message, so neither logging the error nor serialising it carries it:
 * athena words refusals freely and may quote what the request named (a patient, a value).
 */

export const ATHENA_ERROR_KINDS = ['auth', 'not-found', 'permanent', 'retryable', 'ambiguous'] as const;
export type AthenaErrorKind = (typeof ATHENA_ERROR_KINDS)[number];

export interface AthenaErrorInit {
  kind: AthenaErrorKind;
  /** Client operation, e.g. `createPatientCase`. */
  operation: string;
  status?: number;
  /** labloop's own description (a network error's code, the fields a schema refused): never athena's text. */
  detail?: string;
  /** athena's `detailedmessage` / `errormessage` / `message`: vendor text, never logged. */
  vendorMessage?: string;
  /** athena's `error` field: in the message only when it is a code (a short token), else vendor text. */
  athenaError?: string;
  /** `X-Request-Id` of the last attempt, for athena support tickets. */
  requestId?: string;
  /** How many HTTP attempts were made. */
  attempts?: number;
  /** Server-requested wait (Retry-After) that exceeded what the client is willing to sleep. */
  retryAfterMs?: number;
  cause?: unknown;
}

/** What an athena error code looks like (`access_denied`, `invalid_request`); anything else is prose. */
const ATHENA_ERROR_CODE = /^[A-Za-z0-9_.:-]{1,64}$/;

export class AthenaError extends Error {
  readonly kind: AthenaErrorKind;
  readonly operation: string;
  readonly status?: number;
  readonly detail?: string;
  /** athena's error code, when its `error` field was one. */
  readonly athenaError?: string;
  readonly requestId?: string;
  readonly attempts?: number;
  readonly retryAfterMs?: number;
  /**
   * athena's own wording, for a person reading this one error in a debugger or a support ticket.
   * Not enumerable (a logger's error serialiser and JSON.stringify skip it) and never in `message`.
   */
  declare readonly vendorMessage?: string;

  constructor(init: AthenaErrorInit) {
    const code =
      init.athenaError !== undefined && ATHENA_ERROR_CODE.test(init.athenaError) ? init.athenaError : undefined;
    const parts = [`${init.kind}`];
    if (init.status !== undefined) parts.push(`HTTP ${init.status}`);
    if (code !== undefined) parts.push(`athena error ${code}`);
    if (init.requestId !== undefined) parts.push(`request ${init.requestId}`);
    const head = `athena ${init.operation} failed (${parts.join(', ')})`;
    super(init.detail === undefined ? head : `${head}: ${init.detail}`, { cause: init.cause });
    this.name = 'AthenaError';
    this.kind = init.kind;
    this.operation = init.operation;
    this.status = init.status;
    this.detail = init.detail;
    this.athenaError = code;
    this.requestId = init.requestId;
    this.attempts = init.attempts;
    this.retryAfterMs = init.retryAfterMs;
    const prose = code === undefined ? init.athenaError : undefined;
    const vendor = [init.vendorMessage, prose].filter((t): t is string => t !== undefined && t !== '').join(' / ');
    Object.defineProperty(this, 'vendorMessage', {
      value: vendor === '' ? undefined : vendor,
      enumerable: false,
      writable: false,
      configurable: false,
    });
  }
}

export function isAthenaError(error: unknown): error is AthenaError {
  return error instanceof AthenaError;
}

/**
 * What an HTTP status means for the caller, before the idempotency of the request is considered.
 * 408 and 429 are throttling/timeouts at the edge (the request was not processed); every 5xx may or may
 * not have been processed, which only matters for writes (see the transport).
 */
export function kindForStatus(status: number): AthenaErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not-found';
  if (status === 408 || status === 429 || status >= 500) return 'retryable';
  return 'permanent';
}

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
 * Messages name the operation and status, never patient identifiers or values: errors end up in logs.
 */

export const ATHENA_ERROR_KINDS = ['auth', 'not-found', 'permanent', 'retryable', 'ambiguous'] as const;
export type AthenaErrorKind = (typeof ATHENA_ERROR_KINDS)[number];

export interface AthenaErrorInit {
  kind: AthenaErrorKind;
  /** Client operation, e.g. `createPatientCase`. */
  operation: string;
  status?: number;
  /** athena's `detailedmessage` (or `errormessage`), when it sent one. */
  detail?: string;
  /** athena's `error` field. */
  athenaError?: string;
  /** `X-Request-Id` of the last attempt, for athena support tickets. */
  requestId?: string;
  /** How many HTTP attempts were made. */
  attempts?: number;
  /** Server-requested wait (Retry-After) that exceeded what the client is willing to sleep. */
  retryAfterMs?: number;
  cause?: unknown;
}

export class AthenaError extends Error {
  readonly kind: AthenaErrorKind;
  readonly operation: string;
  readonly status?: number;
  readonly detail?: string;
  readonly athenaError?: string;
  readonly requestId?: string;
  readonly attempts?: number;
  readonly retryAfterMs?: number;

  constructor(init: AthenaErrorInit) {
    const parts = [`athena ${init.operation} failed (${init.kind}`];
    if (init.status !== undefined) parts.push(`, HTTP ${init.status}`);
    parts.push(')');
    const reason = init.detail ?? init.athenaError;
    super(reason === undefined ? parts.join('') : `${parts.join('')}: ${reason}`, { cause: init.cause });
    this.name = 'AthenaError';
    this.kind = init.kind;
    this.operation = init.operation;
    this.status = init.status;
    this.detail = init.detail;
    this.athenaError = init.athenaError;
    this.requestId = init.requestId;
    this.attempts = init.attempts;
    this.retryAfterMs = init.retryAfterMs;
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

/**
 * A failed Spruce API call, classified for the caller:
 *  - `auth`: 401/403, the org token is wrong, disabled or API access was turned off. Not fixed by
 *    retrying; someone has to act, so it is kept apart from ordinary permanent errors.
 *  - `permanent`: 400/404/409 and other 4xx: this request will never succeed as it is.
 *  - `retryable`: 429, 5xx, timeouts and network errors. Writes carry an `s-idempotency-key`, so a
 *    retry of a write that did land comes back as 422 "duplicate request" (reported as `alreadyDone`).
 * A 422 that is not that duplicate answer is a SpruceValidationError (permanent): Spruce refused the
 * request's content, and taking it for "the first attempt landed" would record a send that never
 * happened.
 * No `cause` is attached and Spruce's message text is kept out of `message`: error bodies and request
 * details can carry patient names or phone numbers.
 */
export type SpruceErrorKind = 'permanent' | 'retryable' | 'auth';

export interface SpruceErrorDetails {
  kind: SpruceErrorKind;
  /** HTTP status, absent when there was no answer. */
  status?: number;
  /** Spruce's error `type` (e.g. BAD_PARAMETER, NOT_FOUND). */
  type?: string;
  /** `s-request-id` of the failed response, for Spruce support. */
  requestId?: string;
  retryAfterMs?: number;
  /** The write may have been applied although no answer came (retry with the same idempotency key). */
  ambiguous?: boolean;
}

export class SpruceError extends Error {
  readonly kind: SpruceErrorKind;
  readonly status?: number;
  readonly type?: string;
  readonly requestId?: string;
  readonly retryAfterMs?: number;
  readonly ambiguous: boolean;

  constructor(message: string, details: SpruceErrorDetails) {
    super(message);
    this.name = 'SpruceError';
    this.kind = details.kind;
    this.status = details.status;
    this.type = details.type;
    this.requestId = details.requestId;
    this.retryAfterMs = details.retryAfterMs;
    this.ambiguous = details.ambiguous ?? false;
  }
}

/** Classify an HTTP status Spruce answered with. */
export function classifySpruceStatus(status: number): SpruceErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 408 || status === 429 || status >= 500) return 'retryable';
  return 'permanent';
}

/**
 * Spruce's answer to a write whose `s-idempotency-key` it has seen (§3.1: 422 "duplicate request",
 * error body `{statusCode, type, message}`): recognised by that message, or by a `type` naming a
 * duplicate. Only this shape means "the first attempt landed"; any other 422 is a refusal.
 */
export function isDuplicateRequestError(
  status: number,
  body: { type?: string; message?: string } | undefined,
): boolean {
  if (status !== 422 || body === undefined) return false;
  return /\bduplicate request\b/i.test(body.message ?? '') || /duplicate/i.test(body.type ?? '');
}

/** The name of a 422 that is not a duplicate: Spruce found the request itself invalid. */
export const SPRUCE_VALIDATION_ERROR = 'SpruceValidationError';

/** A 422 refusal of the request's content (not a duplicate): permanent, never retried as is. */
export class SpruceValidationError extends SpruceError {
  constructor(message: string, details: Omit<SpruceErrorDetails, 'kind'>) {
    super(message, { ...details, kind: 'permanent' });
    this.name = SPRUCE_VALIDATION_ERROR;
  }
}

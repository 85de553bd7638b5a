import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { backoffDelayMs, MAX_RETRY_AFTER_MS, parseRetryAfterMs, type BackoffPolicy } from './backoff';
import { AthenaError, kindForStatus, type AthenaErrorKind } from './errors';
import type { TokenBucket } from './rate-limiter';
import { describeSchemaIssues, ErrorBodySchema, TokenResponseSchema } from './schemas';
import { DEFAULT_TOKEN_TTL_SECONDS, TokenCache, type TokenGrant } from './token-cache';

/**
 * HTTP to athena: OAuth token, pacing, `X-Request-Id`, timeouts, retries and error classification.
 * The rule that matters most: athena has no idempotency keys, so a request that is not safe to repeat
 * is never sent twice once it may have reached athena. It is reported `ambiguous` instead, and the
 * caller reconciles by reading.
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** One HTTP attempt, for logs and metrics: IDs and outcomes only. */
export interface AthenaAttempt {
  operation: string;
  method: HttpMethod;
  attempt: number;
  requestId: string;
  status?: number;
  durationMs: number;
  outcome: 'ok' | 'retry' | 'refresh-token' | 'failed';
}

export interface TransportOptions {
  /** Host root, e.g. `https://api.preview.platform.athenahealth.com` (no trailing slash). */
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  scope: string;
  timeoutMs: number;
  maxAttempts: number;
  backoff: BackoffPolicy;
  limiter: TokenBucket;
  now: () => number;
  random: () => number;
  onAttempt?: (attempt: AthenaAttempt) => void;
}

export interface ApiCall<T extends z.ZodType> {
  operation: string;
  method: HttpMethod;
  /** Path below `/v1`, already encoded, starting with `/{practiceid}`. */
  path: string;
  query?: Record<string, string | undefined>;
  /** Sent as `application/x-www-form-urlencoded`, as every v1 write must be. */
  form?: Record<string, string | undefined>;
  /** Whether sending the request twice has the same effect as once. */
  idempotent: boolean;
  schema: T;
}

interface RequestSpec {
  operation: string;
  method: HttpMethod;
  url: string;
  body?: string;
  idempotent: boolean;
  /** Basic for the token endpoint; otherwise the cached bearer token. */
  basicAuth?: string;
}

/** Errors from the connection phase: nothing reached athena, so even a write may be repeated. */
const CONNECT_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function isConnectFailure(error: unknown): boolean {
  const cause = error instanceof Error ? error.cause : undefined;
  const nested: unknown[] = cause instanceof AggregateError ? (cause.errors as unknown[]) : [];
  const candidates: unknown[] = [error, cause, ...nested];
  return candidates.some((candidate) => {
    const code = errorCode(candidate);
    return code !== undefined && CONNECT_ERROR_CODES.has(code);
  });
}

function describeNetworkError(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'request timed out';
  const cause = error instanceof Error ? error.cause : undefined;
  return errorCode(cause) ?? errorCode(error) ?? (error instanceof Error ? error.message : 'network error');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function toSearch(params: Record<string, string | undefined> | undefined): URLSearchParams {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params ?? {})) if (value !== undefined) search.append(key, value);
  return search;
}

export class AthenaTransport {
  private readonly tokens: TokenCache;

  constructor(private readonly options: TransportOptions) {
    this.tokens = new TokenCache(() => this.fetchToken(), options.now);
  }

  /** Calls a v1 endpoint and validates the JSON answer with `schema`. */
  async call<T extends z.ZodType>(call: ApiCall<T>): Promise<z.output<T>> {
    const query = toSearch(call.query).toString();
    const url = `${this.options.baseUrl}/v1${call.path}${query === '' ? '' : `?${query}`}`;
    const body = call.form === undefined ? undefined : toSearch(call.form).toString();
    const raw = await this.send({
      operation: call.operation,
      method: call.method,
      url,
      body,
      idempotent: call.idempotent,
    });
    return this.validate(call.operation, call.schema, raw);
  }

  private validate<T extends z.ZodType>(operation: string, schema: T, raw: unknown): z.output<T> {
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      throw new AthenaError({
        kind: 'permanent',
        operation,
        detail: `unexpected response shape (${describeSchemaIssues(parsed.error)})`,
      });
    }
    return parsed.data;
  }

  private async fetchToken(): Promise<TokenGrant> {
    const basic = Buffer.from(`${this.options.clientId}:${this.options.clientSecret}`).toString('base64');
    const raw = await this.send({
      operation: 'token',
      method: 'POST',
      url: `${this.options.baseUrl}/oauth2/v1/token`,
      body: toSearch({ grant_type: 'client_credentials', scope: this.options.scope }).toString(),
      // Asking for a token twice only yields two valid tokens.
      idempotent: true,
      basicAuth: `Basic ${basic}`,
    });
    const token = this.validate('token', TokenResponseSchema, raw);
    return { accessToken: token.access_token, expiresInSeconds: token.expires_in ?? DEFAULT_TOKEN_TTL_SECONDS };
  }

  private async send(spec: RequestSpec): Promise<unknown> {
    const { maxAttempts, timeoutMs } = this.options;
    let attempt = 0;
    let refreshedAfter401 = false;
    for (;;) {
      attempt += 1;
      await this.options.limiter.take();
      const bearer = spec.basicAuth === undefined ? await this.tokens.get() : undefined;
      const requestId = randomUUID();
      const startedAt = Date.now();
      const report = (outcome: AthenaAttempt['outcome'], status?: number) =>
        this.options.onAttempt?.({
          operation: spec.operation,
          method: spec.method,
          attempt,
          requestId,
          status,
          durationMs: Date.now() - startedAt,
          outcome,
        });
      const fail = (
        kind: AthenaErrorKind,
        extra: {
          status?: number;
          detail?: string;
          vendorMessage?: string;
          athenaError?: string;
          retryAfterMs?: number;
          cause?: unknown;
        },
      ) => {
        report('failed', extra.status);
        return new AthenaError({ kind, operation: spec.operation, requestId, attempts: attempt, ...extra });
      };

      let response: Response;
      let text: string;
      try {
        response = await fetch(spec.url, {
          method: spec.method,
          headers: {
            Authorization: spec.basicAuth ?? `Bearer ${bearer}`,
            'X-Request-Id': requestId,
            Accept: 'application/json',
            ...(spec.body === undefined ? {} : { 'Content-Type': 'application/x-www-form-urlencoded' }),
          },
          body: spec.body,
          signal: AbortSignal.timeout(timeoutMs),
        });
        text = await response.text();
      } catch (error) {
        const detail = describeNetworkError(error);
        if (!spec.idempotent && !isConnectFailure(error)) throw fail('ambiguous', { detail, cause: error });
        if (attempt >= maxAttempts) throw fail('retryable', { detail, cause: error });
        report('retry');
        await sleep(backoffDelayMs(attempt, this.options.backoff, this.options.random));
        continue;
      }

      const { status } = response;
      if (response.ok) {
        report('ok', status);
        if (text.trim() === '') return undefined;
        try {
          return JSON.parse(text) as unknown;
        } catch {
          throw new AthenaError({
            kind: 'permanent',
            operation: spec.operation,
            status,
            requestId,
            attempts: attempt,
            detail: 'response is not JSON',
          });
        }
      }

      const errorBody = parseErrorBody(text);
      const described = {
        status,
        athenaError: errorBody.error,
        vendorMessage: errorBody.detailedmessage ?? errorBody.errormessage ?? errorBody.message,
      };

      if (status === 401 && bearer !== undefined && !refreshedAfter401) {
        // A revoked or expired token: athena did not process the request, so even a write may be resent.
        refreshedAfter401 = true;
        this.tokens.invalidate(bearer);
        report('refresh-token', status);
        attempt -= 1;
        continue;
      }

      const kind =
        spec.basicAuth !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429
          ? 'auth'
          : kindForStatus(status);
      if (kind !== 'retryable') throw fail(kind, described);

      // 408 and 429 are refusals at the door; any 5xx may have been processed.
      const notProcessed = status === 408 || status === 429;
      if (!spec.idempotent && !notProcessed) throw fail('ambiguous', described);
      const retryAfterMs = parseRetryAfterMs(response.headers.get('retry-after'), Date.now());
      if (retryAfterMs !== undefined && retryAfterMs > MAX_RETRY_AFTER_MS)
        throw fail('retryable', { ...described, retryAfterMs });
      if (attempt >= maxAttempts) throw fail('retryable', described);
      report('retry', status);
      await sleep(retryAfterMs ?? backoffDelayMs(attempt, this.options.backoff, this.options.random));
    }
  }
}

function parseErrorBody(text: string): z.output<typeof ErrorBodySchema> {
  try {
    const parsed = ErrorBodySchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}

import { AsyncLocalStorage } from 'node:async_hooks';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import type TwilioResponse from 'twilio/lib/http/response';
import type { ObservedResponse } from './errors';

/** Where the twilio package sends every REST call; the fake replaces this origin. */
export const TWILIO_API_ORIGIN = 'https://api.twilio.com';

/** What one logical call (send, fetch, list) saw on the wire, for error classification. */
export interface CallObservation {
  lastResponse?: ObservedResponse;
}

const observations = new AsyncLocalStorage<CallObservation>();

/** Run `fn` and return what the HTTP client saw while it ran (concurrent calls do not mix). */
export async function observeCall<T>(fn: () => Promise<T>, observation: CallObservation): Promise<T> {
  return observations.run(observation, fn);
}

function normaliseHeaders(headers: unknown): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (typeof headers !== 'object' || headers === null) return out;
  for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
    if (typeof value === 'string') out[name.toLowerCase()] = value;
    else if (typeof value === 'number') out[name.toLowerCase()] = String(value);
    else if (Array.isArray(value)) out[name.toLowerCase()] = value.join(', ');
  }
  return out;
}

/**
 * twilio's own RequestClient (axios, form encoding, Basic auth, paging all unchanged) with two
 * additions, using the documented `httpClient` option rather than patching the library:
 *  - the origin `https://api.twilio.com` is rewritten to `apiBaseUrl` when one is given (the fake);
 *  - each response's status and headers are recorded for the calling operation, because twilio's
 *    RestException drops the headers and we need `Retry-After`.
 * Paging URLs come back as absolute api.twilio.com URLs and pass through here too, so the rewrite
 * covers them.
 */
export class ObservingRequestClient extends twilio.RequestClient {
  private readonly targetOrigin: string | undefined;

  constructor(options: { apiBaseUrl?: string; timeoutMs: number }) {
    // autoRetry off: the library's retry would resend a POST, and a message create has no
    // idempotency key, so a retry after Twilio accepted the first attempt would text twice.
    super({ timeout: options.timeoutMs, autoRetry: false });
    this.targetOrigin = options.apiBaseUrl === undefined ? undefined : new URL(options.apiBaseUrl).origin;
  }

  override async request<TData>(opts: RequestClient.RequestOptions<TData>): Promise<TwilioResponse<TData>> {
    const uri =
      this.targetOrigin !== undefined && opts.uri.startsWith(TWILIO_API_ORIGIN)
        ? this.targetOrigin + opts.uri.slice(TWILIO_API_ORIGIN.length)
        : opts.uri;
    const response = await super.request({ ...opts, uri });
    const observation = observations.getStore();
    if (observation !== undefined) {
      observation.lastResponse = { statusCode: response.statusCode, headers: normaliseHeaders(response.headers) };
    }
    return response;
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { parseJsonBody, readBody, sendJson } from './http';
import { parseControl } from './validation';

/**
 * Failure injection shared by the fakes. A test (or the sandbox, through `/__fake/…`) queues
 * failures for the next N requests in scope, or opens an outage window during which every such
 * request fails until it is cleared. Each fake decides which requests are in scope (Twilio: message
 * creates; Spruce: every API call) and how a failure looks on the wire (the vendor's error body).
 */

export type InjectedFailure =
  /**
   * Answer with this HTTP status and the vendor's error body. With `afterProcessing` the request is
   * carried out first (the message is created) and then answered with the error: a 5xx from an edge
   * after the core accepted the write, the ambiguous case for writes without idempotency keys.
   */
  | { kind: 'error'; status: number; afterProcessing?: boolean }
  /** Answer 429 with `Retry-After` (seconds). */
  | { kind: 'rate-limit'; retryAfterSeconds: number }
  /**
   * Never answer; the client must time out. With `afterProcessing` the request is carried out first
   * (the message is created) and only the response is lost: the ambiguous case.
   */
  | { kind: 'hang'; afterProcessing?: boolean }
  /** Destroy the connection without an answer (ECONNRESET / socket hang up on the client). */
  | { kind: 'reset'; afterProcessing?: boolean };

export const InjectedFailureSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('error'),
    status: z.number().int().min(400).max(599),
    afterProcessing: z.boolean().optional(),
  }),
  z.object({ kind: z.literal('rate-limit'), retryAfterSeconds: z.number().min(0).max(3600) }),
  z.object({ kind: z.literal('hang'), afterProcessing: z.boolean().optional() }),
  z.object({ kind: z.literal('reset'), afterProcessing: z.boolean().optional() }),
]);

const FailNextSchema = z.object({
  failure: InjectedFailureSchema,
  count: z.number().int().min(1).max(10_000).default(1),
  /** Only requests whose path matches this regular expression (e.g. `/messages$`). */
  path: z
    .string()
    .refine((p) => {
      try {
        new RegExp(p);
        return true;
      } catch {
        return false;
      }
    }, 'must be a valid regular expression')
    .optional(),
});

const OutageSchema = z.object({ status: z.number().int().min(500).max(599).default(503) });

export interface QueuedFailure {
  failure: InjectedFailure;
  /** Regular expression the request path must match; absent = any in-scope request. */
  path?: string;
}

export interface FailureState {
  queued: QueuedFailure[];
  outage: { status: number; since: string } | null;
}

export class FailureInjector {
  private queued: QueuedFailure[] = [];
  private outage: { status: number; since: string } | null = null;

  /** Fail the next `count` in-scope requests (optionally only those whose path matches `path`). */
  failNext(failure: InjectedFailure, count = 1, options: { path?: string } = {}): void {
    for (let i = 0; i < count; i++)
      this.queued.push({ failure, ...(options.path !== undefined ? { path: options.path } : {}) });
  }

  /** Every in-scope request fails with `status` until `endOutage()`. */
  startOutage(status = 503): void {
    this.outage = { status, since: new Date().toISOString() };
  }

  endOutage(): void {
    this.outage = null;
  }

  /** The failure for the request being handled now, if any (an outage wins over queued failures). */
  take(path = ''): InjectedFailure | undefined {
    if (this.outage !== null) return { kind: 'error', status: this.outage.status };
    const index = this.queued.findIndex((q) => q.path === undefined || new RegExp(q.path).test(path));
    if (index < 0) return undefined;
    const [entry] = this.queued.splice(index, 1);
    return entry?.failure;
  }

  reset(): void {
    this.queued = [];
    this.outage = null;
  }

  state(): FailureState {
    return { queued: [...this.queued], outage: this.outage };
  }
}

/**
 * Serve the shared control endpoints, returning false when the path is not one of them:
 *  - `POST /__fake/failures` `{ failure: InjectedFailure, count?, path? }` — fail the next N requests
 *  - `GET /__fake/failures` — what is queued and whether an outage is open
 *  - `POST /__fake/outage` `{ status? }` / `DELETE /__fake/outage` — open / close an outage window
 */
export async function handleFailureControl(
  injector: FailureInjector,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<boolean> {
  if (path === '/__fake/failures' && req.method === 'POST') {
    const { failure, count, path: only } = parseControl(FailNextSchema, parseJsonBody(await readBody(req)));
    injector.failNext(failure, count, only !== undefined ? { path: only } : {});
    sendJson(res, 200, injector.state());
    return true;
  }
  if (path === '/__fake/failures' && req.method === 'GET') {
    sendJson(res, 200, injector.state());
    return true;
  }
  if (path === '/__fake/outage' && req.method === 'POST') {
    const { status } = parseControl(OutageSchema, parseJsonBody(await readBody(req)));
    injector.startOutage(status);
    sendJson(res, 200, injector.state());
    return true;
  }
  if (path === '/__fake/outage' && req.method === 'DELETE') {
    injector.endOutage();
    sendJson(res, 200, injector.state());
    return true;
  }
  return false;
}

/**
 * Apply the connection-level part of a failure: a hang leaves the response open (the server's
 * close() drops it later), a reset destroys the socket. Returns true when the response is dealt with.
 */
export function applyConnectionFailure(failure: InjectedFailure, res: ServerResponse): boolean {
  if (failure.kind === 'hang') {
    // Keep the socket open and silent; the client's timeout is what ends this request.
    return true;
  }
  if (failure.kind === 'reset') {
    res.socket?.destroy();
    return true;
  }
  return false;
}

import { readBody, requestUrl, sendEmpty, startFakeHttpServer } from './http';

/**
 * A loopback HTTP server that records every request it receives: the stand-in for our own webhook
 * endpoints when a fake's callbacks are tested on their own. The responder decides the status code,
 * so a test can make the receiver fail and watch the fake retry.
 */

export interface CapturedRequest {
  method: string;
  /** Full URL as called, e.g. `http://127.0.0.1:4321/twilio/status?x=1`. */
  url: string;
  path: string;
  headers: Record<string, string>;
  rawBody: Buffer;
  body: string;
  receivedAt: number;
  /** The status this receiver answered. */
  answered: number;
}

/** A status code, or a status with a body (e.g. TwiML for a Twilio inbound webhook). */
export type Responder = (
  request: Omit<CapturedRequest, 'answered'>,
) => number | { status: number; body: string; contentType?: string };

export interface WebhookReceiver {
  url: string;
  requests: CapturedRequest[];
  setResponder(responder: Responder): void;
  /** Wait until `predicate` holds for the captured list, or fail after `timeoutMs`. */
  waitFor(predicate: (requests: CapturedRequest[]) => boolean, timeoutMs?: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

/** Default wait for an expected webhook: far above the fakes' millisecond delays, far below a test timeout. */
export const DEFAULT_WAIT_MS = 5_000;
const POLL_MS = 5;

export async function startWebhookReceiver(responder: Responder = () => 200): Promise<WebhookReceiver> {
  const requests: CapturedRequest[] = [];
  let respond = responder;
  let baseUrl = '';
  const http = await startFakeHttpServer('webhook receiver', async (req, res) => {
    const rawBody = await readBody(req);
    const url = requestUrl(req);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string') headers[name] = value;
      else if (Array.isArray(value)) headers[name] = value.join(', ');
    }
    const captured = {
      method: req.method ?? 'GET',
      url: `${baseUrl}${req.url ?? '/'}`,
      path: url.pathname,
      headers,
      rawBody,
      body: rawBody.toString('utf8'),
      receivedAt: Date.now(),
    };
    const answer = respond(captured);
    const answered = typeof answer === 'number' ? answer : answer.status;
    requests.push({ ...captured, answered });
    if (typeof answer === 'number') sendEmpty(res, answered);
    else {
      res.writeHead(answered, { 'content-type': answer.contentType ?? 'text/xml; charset=utf-8' });
      res.end(answer.body);
    }
  });
  baseUrl = http.url;
  return {
    url: http.url,
    requests,
    setResponder(next) {
      respond = next;
    },
    async waitFor(predicate, timeoutMs = DEFAULT_WAIT_MS, what = 'expected webhooks') {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(requests)) {
        if (Date.now() > deadline) {
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${requests.length} received)`);
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    },
    close: () => http.close(),
  };
}

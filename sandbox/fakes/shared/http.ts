import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * Small HTTP plumbing shared by the vendor fakes (Twilio, Spruce, athena): a loopback server with
 * a clean shutdown, body reading with a size cap, and JSON/HTML/form helpers. Plain node:http keeps
 * the fakes close to the wire: headers, status codes and bodies are exactly what we write.
 */

/** Request bodies larger than this are refused with 413; the largest legitimate one is a PDF upload. */
export const MAX_FAKE_BODY_BYTES = 25 * 1024 * 1024;

export type FakeRequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export interface FakeHttpServer {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  url: string;
  port: number;
  server: Server;
  /** Stop listening and drop every open connection, including requests the fake is holding open. */
  close(): Promise<void>;
}

export class FakeHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'FakeHttpError';
  }
}

/** Listen on loopback (port 0 = any free port). Unexpected handler errors become a 500 and a log line. */
export async function startFakeHttpServer(
  name: string,
  handler: FakeRequestHandler,
  options: { host?: string; port?: number } = {},
): Promise<FakeHttpServer> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch((error: unknown) => {
      if (error instanceof FakeHttpError) {
        if (!res.headersSent) sendJson(res, error.status, { error: error.message });
        return;
      }
      console.error(`[${name} fake] handler error:`, error);
      if (!res.headersSent) sendJson(res, 500, { error: 'fake internal error' });
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    server,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

/** Read the whole body, refusing more than `limit` bytes. */
export async function readBody(req: IncomingMessage, limit = MAX_FAKE_BODY_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += buf.length;
    if (size > limit) throw new FakeHttpError(413, `request body over ${limit} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | number> = {},
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

export function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'cache-control': 'no-store',
  });
  res.end(html);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string | number> = {}): void {
  res.writeHead(status, headers);
  res.end();
}

/** Parse `application/x-www-form-urlencoded`; a repeated name becomes an array, like Twilio's webhooks. */
export function parseForm(body: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const existing = out[key];
    if (existing === undefined) out[key] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out[key] = [existing, value];
  }
  return out;
}

/** The single value of a form field (the first, if repeated). */
export function formValue(form: Record<string, string | string[]>, key: string): string | undefined {
  const value = form[key];
  return Array.isArray(value) ? value[0] : value;
}

/** Parse a JSON body; malformed JSON is a 400 naming the problem. */
export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new FakeHttpError(400, 'body is not valid JSON');
  }
}

/** Request path and query, parsed relative to a dummy origin. */
export function requestUrl(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', 'http://fake.invalid');
}

/** Minimal HTML escaping for the outbox pages. */
export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Compare a presented credential with the expected one in constant time, as the real vendors do. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createScrapeTokenCheck, isInternalBindAddress, SCRAPE_REFUSED_MESSAGE } from './scrape-access';

/**
 * A small HTTP listener for operators and orchestrators: `/metrics` (Prometheus text), and, when
 * given, `/livez` and `/readyz`. The worker runs one (it has no other HTTP server); the API runs
 * one only for an internal metrics listener (API_METRICS_PORT). Health answers need no token
 * (orchestrators probe them; they say only up or down); `/metrics` needs an operator token unless
 * the listener is bound to an internal interface (lib/metrics/scrape-access.ts).
 */

export interface Readiness {
  ready: boolean;
  /** Named checks and their state; names and `ok`/`down` only. */
  checks: Record<string, string>;
}

export interface OpsServerOptions {
  host: string;
  port: number;
  /** LABLOOP_METRICS_TOKENS: token → scraper name. */
  tokens: ReadonlyMap<string, string>;
  /** Whether `/metrics` needs a token; default: unless the listener is bound to an internal interface. */
  tokenRequired?: boolean;
  /** The exposition text and its content type. */
  metrics: () => Promise<string>;
  contentType: string;
  health?: {
    live: () => boolean;
    ready: () => Promise<Readiness>;
  };
}

export interface OpsServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const scraperOf = createScrapeTokenCheck(options.tokens);
  const openScrape = !(options.tokenRequired ?? !isInternalBindAddress(options.host));
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return json(response, 405, { error: 'Method Not Allowed' });
    if (path === '/metrics') {
      if (!openScrape && scraperOf(request.headers.authorization) === undefined) {
        response.setHeader('www-authenticate', 'Bearer');
        return json(response, 401, { error: 'Unauthorized', message: SCRAPE_REFUSED_MESSAGE });
      }
      const text = await options.metrics();
      response.writeHead(200, { 'content-type': options.contentType, 'cache-control': 'no-store' });
      response.end(text);
      return;
    }
    if (options.health !== undefined && path === '/livez') {
      const live = options.health.live();
      return json(response, live ? 200 : 503, { status: live ? 'ok' : 'failed' });
    }
    if (options.health !== undefined && path === '/readyz') {
      const { ready, checks } = await options.health.ready();
      return json(response, ready ? 200 : 503, { status: ready ? 'ready' : 'not-ready', checks });
    }
    // Never echo the path: a mistyped URL may carry anything.
    return json(response, 404, { error: 'Not Found' });
  };
  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) json(response, 500, { error: 'Internal Server Error' });
      else response.destroy();
    });
  });
  // A scrape is one short request: no reason to hold idle keep-alive sockets through a shutdown.
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${hostForUrl === '0.0.0.0' ? '127.0.0.1' : hostForUrl}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  response.end(JSON.stringify(body));
}

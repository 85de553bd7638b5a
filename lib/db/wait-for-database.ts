import pg from 'pg';

/**
 * How long a one-shot job (scripts/migrate.ts) waits for PostgreSQL before it gives up: 2 minutes,
 * the compose healthcheck's own budget (20 retries x 5 s = 100 s) plus a margin, so a server that
 * restarts once after its init scripts, or a name that resolves a moment late, is waited out, and a
 * server that never comes is reported within minutes rather than hanging a deployment.
 */
export const DATABASE_WAIT_MS = 2 * 60_000;
/** Pause between connection attempts: 1 s (at most 120 attempts in DATABASE_WAIT_MS). */
export const DATABASE_RETRY_INTERVAL_MS = 1_000;
/** One attempt's connect timeout: 5 s, so a silently dropped SYN costs one attempt, not the whole wait. */
export const DATABASE_CONNECT_TIMEOUT_MS = 5_000;

/**
 * Errors that mean "not there yet": nothing listening, a name not yet resolvable, a server starting
 * up or shutting down (SQLSTATE 57P03 cannot_connect_now), a database its init script has not
 * created yet (3D000 invalid_catalog_name). A wrong password or a refused role is not among them:
 * waiting cannot fix it, so it fails at once.
 */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  '57P03',
  '3D000',
]);
const TRANSIENT_MESSAGES = /Connection terminated|timeout expired|connection timeout/i;

export function isTransientConnectError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
  // A name with several addresses (localhost: ::1 and 127.0.0.1) fails with one error per address.
  const inner = (err as { errors?: unknown }).errors;
  if (Array.isArray(inner) && inner.length > 0 && inner.every(isTransientConnectError)) return true;
  return err instanceof Error && TRANSIENT_MESSAGES.test(err.message);
}

/** What the error says, without the connection string (it carries a password). */
export function describeConnectError(err: unknown): string {
  if (typeof err !== 'object' || err === null) return String(err);
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : '';
  if (typeof code !== 'string') return message || 'unknown error';
  return message.includes(code) ? message : message === '' ? code : `${code}: ${message}`;
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Called on each transient failure, with the attempt number and the error's description. */
  onRetry?: (attempt: number, reason: string) => void;
}

/**
 * Resolve once `SELECT 1` succeeds on `databaseUrl`; retry transient failures until `timeoutMs` has
 * passed, then throw naming the last reason. A permanent failure throws at once.
 */
export async function waitForDatabase(databaseUrl: string, options: WaitOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? DATABASE_WAIT_MS;
  const intervalMs = options.intervalMs ?? DATABASE_RETRY_INTERVAL_MS;
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt += 1) {
    const client = new pg.Client({
      connectionString: databaseUrl,
      connectionTimeoutMillis: DATABASE_CONNECT_TIMEOUT_MS,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (err) {
      if (!isTransientConnectError(err)) throw err;
      const reason = describeConnectError(err);
      if (Date.now() + intervalMs > deadline) {
        throw new Error(
          `PostgreSQL was not reachable within ${Math.round(timeoutMs / 1000)} s (${attempt} attempts); last: ${reason}`,
          { cause: err },
        );
      }
      options.onRetry?.(attempt, reason);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { DestinationStream } from 'pino';
import { PROJECT_ROOT } from '../../lib/tools';
import { startStack, type Stack, type StackOptions } from '../../sandbox/stack';
import { installQuietRuntime } from './temporal';

/**
 * The whole loop for end-to-end tests: the same assembly as `npm start`, on the run's shared
 * PostgreSQL (a fresh database) and, unless a UI is wanted, the run's shared Temporal dev server,
 * with a private task queue so test files never steal each other's work.
 */
export interface TestStackOptions {
  /** Start a private dev server with the Web UI instead of using the shared one. */
  withTemporalUi?: boolean;
  /** Adjust the sandbox practice policy (e.g. widen quiet hours for tests that are not about them). */
  policyOverrides?: Record<string, unknown>;
  logDestination?: DestinationStream;
  logLevel?: string;
  extra?: Partial<StackOptions>;
}

export async function startTestStack(options: TestStackOptions = {}): Promise<Stack> {
  installQuietRuntime();
  const registry = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'config/practices.sandbox.json'), 'utf8')) as {
    practices: { policy: Record<string, unknown> }[];
  };
  for (const practice of registry.practices) Object.assign(practice.policy, options.policyOverrides ?? {});
  const dir = mkdtempSync(path.join(tmpdir(), 'labloop-e2e-'));
  const practicesFile = path.join(dir, 'practices.json');
  writeFileSync(practicesFile, JSON.stringify(registry));
  const bundle = process.env.LABLOOP_WORKFLOW_BUNDLE;
  return startStack({
    postgresAdminUrl: process.env.LABLOOP_TEST_PG_ADMIN_URL ?? process.env.DATABASE_URL,
    temporalAddress: options.withTemporalUi === true ? undefined : process.env.TEMPORAL_ADDRESS,
    temporalUi: options.withTemporalUi === true,
    taskQueue: `e2e-${randomUUID()}`,
    workflowBundle: bundle !== undefined && bundle !== '' ? { codePath: bundle } : undefined,
    practicesFile,
    logLevel: options.logLevel ?? 'warn',
    logDestination: options.logDestination,
    twilioCallbackDelaysMs: { sent: 50, delivered: 100 },
    ...options.extra,
  });
}

/** Poll until `check` returns a value (not undefined) or the time runs out. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
  what: string | (() => string) = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

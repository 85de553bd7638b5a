import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { PROJECT_ROOT } from '../../lib/tools';
import { startStack, type Stack, type StackOptions } from '../../sandbox/stack';
import { capturedRuntimeMetricsPort, checkCapturedLogs, processLogCapture } from './log-capture';
import { fixturePhi, type PhiPattern } from './phi-scan';

export { logArtifactFor } from './log-capture';

/**
 * The whole loop for end-to-end tests: the same assembly as `npm start`, on the run's shared
 * PostgreSQL (a fresh database) and, unless a UI is wanted, the run's shared Temporal dev server,
 * with a private task queue so test files never steal each other's work.
 *
 * Every log line the stack produces is captured: labloop's pino loggers at trace, and the Temporal
 * SDK's Runtime logger (worker, activity and workflow logs at debug, core's forwarded logs at
 * trace: see log-capture.ts for why not the SDK's trace), into one capture per test process, never
 * the console. stop() writes the lines to
 * test-artifacts/logs/<test file>.ndjson and then fails if any carries the PHI of a fixture
 * patient or result (test/support/phi-scan.ts), so every end-to-end and browser file is also a
 * "no PHI in logs" test. It is the only way a test may start a stack (test/static checks that).
 */
export interface TestStackOptions {
  /** Start a private dev server with the Web UI instead of using the shared one. */
  withTemporalUi?: boolean;
  /** Adjust the sandbox practice policy (e.g. widen quiet hours for tests that are not about them). */
  policyOverrides?: Record<string, unknown>;
  /**
   * PHI this file's own inputs carry beyond the shared fixtures (e.g. hl7Phi(message)); searched
   * for in the logs as well. Logging is not configurable here: the capture is the point.
   */
  phi?: readonly PhiPattern[];
  extra?: Partial<Omit<StackOptions, 'logLevel' | 'logDestination'>>;
}

/** The level every test stack logs at: everything pino can say. */
export const TEST_STACK_LOG_LEVEL = 'trace';
const extraPhi: PhiPattern[] = [];

/**
 * Add PHI that a test invents after its stack started (a result it builds in the test itself, a
 * provider's note or annotation: test/fixtures/e2e/loop.ts's signOff and annotate do it themselves).
 */
export function registerPhi(patterns: readonly PhiPattern[]): void {
  extraPhi.push(...patterns);
}

/** What registerPhi has added in this process (searched for in the logs on stop()). */
export function registeredPhi(): readonly PhiPattern[] {
  return extraPhi;
}

/** The test file that called startTestStack, from the call stack (its name names the log artifact). */
function callerTestFile(): string {
  const support = path.join(PROJECT_ROOT, 'test', 'support');
  for (const line of (new Error().stack ?? '').split('\n')) {
    const m = /\(?((?:file:\/\/)?\/[^():]+\.test\.ts):\d+:\d+\)?$/.exec(line.trim());
    if (m?.[1] !== undefined) {
      const file = m[1].replace(/^file:\/\//, '');
      if (!file.startsWith(support)) return file;
    }
  }
  return process.argv.find((a) => a.endsWith('.test.ts')) ?? 'unknown.test.ts';
}

export async function startTestStack(options: TestStackOptions = {}): Promise<Stack> {
  const testFile = callerTestFile();
  // Before anything else here touches Temporal: the Runtime is installed once per process.
  const capture = processLogCapture();
  const registry = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'config/practices.sandbox.json'), 'utf8')) as {
    practices: { policy: Record<string, unknown> }[];
  };
  for (const practice of registry.practices) Object.assign(practice.policy, options.policyOverrides ?? {});
  const dir = mkdtempSync(path.join(tmpdir(), 'labloop-e2e-'));
  const practicesFile = path.join(dir, 'practices.json');
  writeFileSync(practicesFile, JSON.stringify(registry));
  const bundle = process.env.LABLOOP_WORKFLOW_BUNDLE;
  const stack = await startStack({
    postgresAdminUrl: process.env.LABLOOP_TEST_PG_ADMIN_URL ?? process.env.DATABASE_URL,
    temporalAddress: options.withTemporalUi === true ? undefined : process.env.TEMPORAL_ADDRESS,
    temporalUi: options.withTemporalUi === true,
    taskQueue: `e2e-${randomUUID()}`,
    workflowBundle: bundle !== undefined && bundle !== '' ? { codePath: bundle } : undefined,
    practicesFile,
    twilioCallbackDelaysMs: { sent: 50, delivered: 100 },
    temporalMetricsPort: capturedRuntimeMetricsPort(),
    ...options.extra,
    logLevel: TEST_STACK_LOG_LEVEL,
    logDestination: capture.destination,
  });
  const stopStack = () => stack.stop();
  let stopped = false;
  return {
    ...stack,
    async stop() {
      await stopStack();
      if (stopped) return;
      stopped = true;
      checkCapturedLogs(capture, testFile, [...fixturePhi(), ...(options.phi ?? []), ...extraPhi]);
    },
  };
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

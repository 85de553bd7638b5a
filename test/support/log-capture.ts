import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { DestinationStream } from 'pino';
import { DefaultLogger, Runtime, makeTelemetryFilterString, type LogLevel, type LogMetadata } from '@temporalio/worker';
import { PROJECT_ROOT } from '../../lib/tools';
import { temporalMetricsTelemetry } from '../../lib/metrics/temporal-runtime';
import { describeLeaks, scanForPhi, type PhiPattern } from './phi-scan';

/**
 * Captures every log line a test run produces, from pino (the API, the worker's own logger) and
 * from the Temporal SDK (workflow and activity loggers, and the Rust core's forwarded logs), so a
 * test can search all of it. Lines are kept as written (pino's JSON), SDK entries as JSON too.
 */
export interface LogCapture {
  /** Pass to createLogger / startStack({ logDestination }). */
  destination: DestinationStream;
  /** Every line so far, in arrival order. */
  readonly lines: readonly string[];
  /** Lines that came from the Temporal SDK runtime (a subset of `lines`). */
  readonly runtimeLines: readonly string[];
  /** The captured lines whose text matches. */
  find(pattern: RegExp): string[];
}

export function createLogCapture(): LogCapture & { addRuntimeLine(line: string): void } {
  const lines: string[] = [];
  const runtimeLines: string[] = [];
  let partial = '';
  const destination = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      partial += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) if (line !== '') lines.push(line);
      callback();
    },
  });
  return {
    destination: destination,
    lines,
    runtimeLines,
    find: (pattern) => lines.filter((line) => pattern.test(line)),
    addRuntimeLine(line) {
      lines.push(line);
      runtimeLines.push(line);
    },
  };
}

let installedFor: ReturnType<typeof createLogCapture> | undefined;

/** The Temporal loggers' levels: the SDK's own logger (worker, workflow and activity logs) and core's. */
export interface RuntimeCaptureLevels {
  sdk: LogLevel;
  core: LogLevel;
}
/**
 * Core at TRACE, the most it says. The SDK at DEBUG: at TRACE its worker dumps every workflow
 * activation with the payloads already decoded by our codec ("Got workflow activation"), i.e. the
 * patient's data in plain text, by design of the SDK. That is why production's Runtime logger
 * (lib/temporal/runtime.ts) cannot be set below INFO and forwards IDs only. labloop's own workflow
 * and activity code logs nothing below INFO, so DEBUG misses none of it.
 */
const DEFAULT_LEVELS: RuntimeCaptureLevels = { sdk: 'DEBUG', core: 'TRACE' };

/**
 * Route the Temporal SDK's logs (the Runtime logger, workflow and activity `log`, core logs with
 * forwarding on) into `capture`, so nothing is filtered away before the search. The Runtime can be
 * installed once per process and before any worker or native connection exists: call this first.
 * If something already installed or instantiated it, this throws (the logs would escape).
 */
export function captureTemporalRuntimeLogs(
  capture: ReturnType<typeof createLogCapture>,
  levels: RuntimeCaptureLevels = DEFAULT_LEVELS,
): void {
  if (installedFor !== undefined) {
    if (installedFor !== capture) throw new Error('the Temporal Runtime is already capturing into another LogCapture');
    return;
  }
  const logger = new DefaultLogger(levels.sdk, (entry: { level: LogLevel; message: string; meta?: LogMetadata }) => {
    capture.addRuntimeLine(
      JSON.stringify({ source: 'temporal-runtime', level: entry.level, msg: entry.message, meta: entry.meta }),
    );
  });
  // The SDK's runtime metrics too, as production exports them (the stack's worker port proxies them).
  const metricsPort = freePortNow();
  try {
    Runtime.install({
      logger,
      telemetryOptions: {
        logging: { filter: makeTelemetryFilterString({ core: levels.core }), forward: {} },
        metrics: temporalMetricsTelemetry(metricsPort),
      },
    });
  } catch (err) {
    throw new Error(
      `cannot capture the Temporal SDK's logs: its Runtime was installed or used before the capture (${err instanceof Error ? err.message : String(err)}). Start the stack (startTestStack) before any other Temporal worker, connection or environment in this file.`,
      { cause: err },
    );
  }
  installedFor = capture;
  runtimeMetricsPort = metricsPort;
}

let runtimeMetricsPort: number | undefined;

/** The loopback port the captured Runtime exports the SDK's metrics on (startTestStack hands it to the stack). */
export function capturedRuntimeMetricsPort(): number | undefined {
  return runtimeMetricsPort;
}

/**
 * A free loopback port, synchronously: the Runtime is installed synchronously, before anything
 * async in a test file may touch Temporal. A child process asks the OS for one.
 */
function freePortNow(): number {
  const script =
    "const s=require('node:net').createServer().listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})";
  const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  const port = Number(out.stdout);
  if (!Number.isInteger(port) || port <= 0)
    throw new Error(`no free port for the Temporal runtime metrics: ${out.stderr}`);
  return port;
}

/** True once this process's Temporal Runtime logs into a capture (installQuietRuntime then does nothing). */
export function temporalRuntimeCaptured(): boolean {
  return installedFor !== undefined;
}

let processCapture: ReturnType<typeof createLogCapture> | undefined;

/**
 * The one capture of this test process: every stack started by startTestStack logs into it (pino at
 * trace) and so does the Temporal Runtime (created on first use, at DEFAULT_LEVELS unless given).
 */
export function processLogCapture(levels?: RuntimeCaptureLevels): LogCapture {
  if (processCapture === undefined) {
    const capture = createLogCapture();
    captureTemporalRuntimeLogs(capture, levels);
    processCapture = capture;
  }
  return processCapture;
}

export const LOG_ARTIFACTS_DIR = path.join(PROJECT_ROOT, 'test-artifacts', 'logs');

/** The artifact file for a test file: test-artifacts/logs/<name without .test.ts>.ndjson. */
export function logArtifactFor(testFile: string): string {
  return path.join(LOG_ARTIFACTS_DIR, `${path.basename(testFile).replace(/\.test\.ts$/, '')}.ndjson`);
}

/**
 * Write the capture to its artifact and throw if a line carries PHI, or if the capture saw nothing
 * of pino or of the Temporal Runtime (then it is not wired and would prove nothing).
 */
export function checkCapturedLogs(capture: LogCapture, testFile: string, phi: readonly PhiPattern[]): void {
  const lines = [...capture.lines];
  const file = logArtifactFor(testFile);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, lines.length === 0 ? '' : `${lines.join('\n')}\n`);
  const runtime = new Set(capture.runtimeLines);
  const pinoLines = lines.filter((l) => !runtime.has(l)).length;
  if (pinoLines === 0 || runtime.size === 0)
    throw new Error(
      `the log capture is not wired: ${pinoLines} labloop line(s) and ${runtime.size} Temporal line(s) captured (${file})`,
    );
  const leaks = scanForPhi(lines, phi, (i) => `${path.relative(PROJECT_ROOT, file)}:${i + 1}`);
  if (leaks.length > 0)
    throw new Error(
      `PHI in the logs: ${leaks.length} occurrence(s) in ${new Set(leaks.map((l) => l.line)).size} of ${lines.length} captured line(s). Logs must carry IDs only.\n${describeLeaks(leaks)}`,
    );
}

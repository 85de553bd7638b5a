import { Writable } from 'node:stream';
import type { DestinationStream } from 'pino';
import { DefaultLogger, Runtime, makeTelemetryFilterString, type LogLevel, type LogMetadata } from '@temporalio/worker';

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

/**
 * Route the Temporal SDK's logs (the Runtime logger, workflow and activity `log`, core logs with
 * forwarding on) into `capture`, at DEBUG so nothing is filtered away before the search. The
 * Runtime can be installed once per process and before any worker or native connection exists:
 * call this first in the test file.
 */
export function captureTemporalRuntimeLogs(capture: ReturnType<typeof createLogCapture>): void {
  if (installedFor !== undefined) {
    if (installedFor !== capture) throw new Error('the Temporal Runtime is already capturing into another LogCapture');
    return;
  }
  installedFor = capture;
  const logger = new DefaultLogger('DEBUG', (entry: { level: LogLevel; message: string; meta?: LogMetadata }) => {
    capture.addRuntimeLine(
      JSON.stringify({ source: 'temporal-runtime', level: entry.level, msg: entry.message, meta: entry.meta }),
    );
  });
  Runtime.install({
    logger,
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'DEBUG' }), forward: {} } },
  });
}

import type { Pool } from 'pg';
import { deliverSignals } from '../consent/apply-change';
import { inTransaction } from '../db/transaction';
import { markProcessedById, takeStuckEvent } from './events';
import type { WorkflowSignaller } from '../consent/workflow-signaller';

/**
 * Finishes inbound webhook events whose database work committed but whose signals never went out
 * (the process died, or Temporal was unreachable, in between): rows of `inbound_event` still at
 * `received` with `pending_signals`. Each is sent its signals and marked processed; the consent
 * change and its audit row were committed with the list, so nothing is recorded twice. Rows at
 * `received` without a list (a parked delivery report, an unreadable Spruce event) are not its
 * business. Runs in the API (api/start-api.ts): at start and then every minute.
 *
 * One row at a time under `FOR UPDATE SKIP LOCKED`, so two API processes never finish the same
 * event together. A workflow may still hear a signal twice when a live request is slower than
 * INBOUND_SWEEP_MIN_AGE_MS; both signals are harmless there (consentChanged carries the state,
 * patientReply is only recorded).
 */

/** How often the sweeper runs: every minute (a signal is then at most ~1.5 min late after a failure). */
export const INBOUND_SWEEP_INTERVAL_MS = 60_000;
/**
 * How old a `received` event must be before the sweeper takes it: 30 s, twice Twilio's 15 s webhook
 * read timeout and six times Spruce's 5 s, so a request still being handled is never raced.
 */
export const INBOUND_SWEEP_MIN_AGE_MS = 30_000;
/** Events finished per run at most; the rest wait for the next run. */
export const INBOUND_SWEEP_BATCH = 100;

export interface InboundSweepDeps {
  pool: Pool;
  signaller: WorkflowSignaller;
}

export interface InboundSweepResult {
  finished: number;
  /** Events whose signals failed again; they stay for the next run. */
  failed: number;
}

/** One pass over stuck events older than `minAgeMs`. */
export async function sweepStuckInboundEvents(
  deps: InboundSweepDeps,
  options: { minAgeMs?: number; limit?: number } = {},
): Promise<InboundSweepResult> {
  const minAgeMs = options.minAgeMs ?? INBOUND_SWEEP_MIN_AGE_MS;
  const limit = options.limit ?? INBOUND_SWEEP_BATCH;
  const result: InboundSweepResult = { finished: 0, failed: 0 };
  const skipped: string[] = [];
  while (result.finished + result.failed < limit) {
    const outcome = await inTransaction(deps.pool, async (client) => {
      const row = await takeStuckEvent(client, minAgeMs, skipped);
      if (row === undefined) return 'none' as const;
      try {
        await deliverSignals(deps, row.pendingSignals);
      } catch {
        // Temporal still unreachable: leave the event for the next run, try the others now.
        skipped.push(row.id);
        return 'failed' as const;
      }
      await markProcessedById(client, row.id);
      return 'finished' as const;
    });
    if (outcome === 'none') break;
    result[outcome] += 1;
  }
  return result;
}

export interface InboundSweeper {
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

/** Run the sweeper now and then every `intervalMs` until stopped. Errors go to `onError`, never out. */
export function startInboundEventSweeper(
  deps: InboundSweepDeps & {
    intervalMs?: number;
    minAgeMs?: number;
    onError: (err: unknown) => void;
    onSwept?: (result: InboundSweepResult) => void;
  },
): InboundSweeper {
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const run = () => {
    running = running.then(async () => {
      if (stopped) return;
      try {
        const result = await sweepStuckInboundEvents(
          deps,
          deps.minAgeMs !== undefined ? { minAgeMs: deps.minAgeMs } : {},
        );
        if (result.finished > 0 || result.failed > 0) deps.onSwept?.(result);
      } catch (err) {
        deps.onError(err);
      }
    });
  };
  run();
  const timer = setInterval(run, deps.intervalMs ?? INBOUND_SWEEP_INTERVAL_MS);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

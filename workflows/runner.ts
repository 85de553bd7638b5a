import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  patched,
  setCurrentDetails,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { ActivityErrorType } from '../domain/activity-error-types';
import { isConfigurationError } from '../domain/configuration-errors';
import { BOOKKEEPING_COMMANDS, type Command } from './commands';
import { decide } from './decide';
import {
  AcuitySearchAttribute,
  PracticeSearchAttribute,
  SlaDeadlineSearchAttribute,
  StateSearchAttribute,
} from './definitions';
import type { DecisionContext } from './draft';
import { runCommand, type EffectEnv } from './effects';
import type { WorkflowEvent } from './events';
import type { Model } from './model';
import { evaluatePatches, SHELL_PATCH_IDS } from './patches';
import { searchAttributesOf, type SearchAttributeValues } from './view';
import { currentDetailsOf, describeWait, nextWakeAt, waitingOn } from './waiting';
import { workflowNow, workflowNowMs } from './workflow-time';

/**
 * A configuration error would fail the workflow task forever (a plain Error is retried until the
 * code changes); as a non-retryable ApplicationFailure it fails the run with a message that names
 * what is wrong. Anything else is rethrown as is.
 */
export function asWorkflowFailure(err: unknown): Error {
  if (isConfigurationError(err)) {
    return ApplicationFailure.nonRetryable(`${err.name}: ${err.message}`, ActivityErrorType.CONFIGURATION);
  }
  return err instanceof Error ? err : new Error(String(err));
}

interface ArmedTimer {
  atMs: number;
  scope: CancellationScope;
  fired: boolean;
}

/**
 * The workflow shell around the decision core: feeds it events, runs its commands (bookkeeping in
 * order, everything else concurrently), keeps one timer for the next due instant, and mirrors the
 * state into search attributes.
 */
export class Runner {
  model: Model;
  private pending: Command[] = [];
  private inFlight = 0;
  private lane: Promise<void> = Promise.resolve();
  private changed = false;
  private fatal: Error | undefined;
  private timer: ArmedTimer | undefined;
  /** The due instant the last immediate tick was for (so an instant that cannot be acted on yet does not spin). */
  private tickedAt: number | undefined;
  private searchAttributes: SearchAttributeValues | undefined;
  /** The cancellation scope of each patient send in flight, by delivery key (cancelSend cancels it). */
  private readonly sendScopes = new Map<string, CancellationScope>();

  constructor(
    model: Model,
    private readonly ctx: DecisionContext,
    private readonly env: EffectEnv,
  ) {
    this.model = model;
  }

  /** Apply one event now (handlers call this synchronously, so nothing is lost or reordered). */
  dispatch(event: WorkflowEvent): void {
    let decision;
    try {
      // patched() here, in the shell: the core gets plain flags and stays pure (patches.ts).
      decision = decide(this.model, event, this.ctx, evaluatePatches(patched));
    } catch (err) {
      this.fatal ??= asWorkflowFailure(err);
      this.changed = true;
      return;
    }
    this.model = decision.model;
    this.pending.push(...decision.commands);
    this.changed = true;
    this.syncSearchAttributes();
    // The Temporal UI's "current details": what this run waits for now (IDs only).
    setCurrentDetails(currentDetailsOf(waitingOn(this.model, this.ctx.policy)));
  }

  /** Run until the core closes the workflow and every command and handler has finished. */
  async run(): Promise<void> {
    for (;;) {
      this.launchPending();
      if (this.fatal !== undefined) throw this.fatal;
      if (this.isDone()) {
        await condition(allHandlersFinished);
        this.launchPending();
        if (this.isDone() && this.fatal === undefined) {
          this.disarmTimer();
          return;
        }
        continue;
      }
      const wake = nextWakeAt(this.model, this.ctx.policy);
      const wakeMs = wake === undefined ? undefined : Date.parse(wake.at);
      if (wakeMs !== undefined && wakeMs <= workflowNowMs()) {
        // Due already. One tick per instant: if it could not act yet (work still in flight), the
        // completion event will (every event processes what is due), so wait for it.
        this.disarmTimer();
        if (this.tickedAt !== wakeMs) {
          this.tickedAt = wakeMs;
          this.dispatch({ type: 'tick', at: workflowNow() });
          continue;
        }
      } else if (wake === undefined) this.disarmTimer();
      else this.armTimer(Date.parse(wake.at), describeWait(wake.waitingOn));
      this.changed = false;
      await condition(() => this.changed || this.pending.length > 0 || this.timer?.fired === true);
      if (this.timer?.fired === true) {
        this.timer = undefined;
        this.dispatch({ type: 'tick', at: workflowNow() });
      }
    }
  }

  private isDone(): boolean {
    return this.model.closed && this.inFlight === 0 && this.pending.length === 0;
  }

  private launchPending(): void {
    const commands = this.pending;
    this.pending = [];
    for (const command of commands) this.launch(command);
  }

  private launch(command: Command): void {
    if (command.type === 'cancelSend') {
      // The send's activity is cancelled: the server stops its retries at once, an attempt already
      // running finishes, and the send's own command reports how it ended (cancelled, or sent).
      this.sendScopes.get(command.key)?.cancel();
      return;
    }
    this.inFlight += 1;
    const sendKey =
      command.type === 'sendSms' || command.type === 'sendSpruce' || command.type === 'postPortal'
        ? command.key
        : undefined;
    const scope = sendKey !== undefined ? new CancellationScope() : undefined;
    if (sendKey !== undefined && scope !== undefined) this.sendScopes.set(sendKey, scope);
    const run = async (): Promise<void> => {
      try {
        const outcome = await (scope !== undefined
          ? scope.run(() => runCommand(command, this.env))
          : runCommand(command, this.env));
        if (outcome !== undefined) this.dispatch(outcome);
      } catch (err) {
        this.fatal ??= err instanceof Error ? err : new Error(String(err));
      } finally {
        if (sendKey !== undefined && this.sendScopes.get(sendKey) === scope) this.sendScopes.delete(sendKey);
        this.inFlight -= 1;
        this.changed = true;
      }
    };
    if (BOOKKEEPING_COMMANDS.includes(command.type)) this.lane = this.lane.then(run);
    else void run();
  }

  /**
   * One timer per due instant: re-armed only when the instant changes, so history stays small. Its
   * summary (shown by the Temporal UI) names what it waits for.
   */
  private armTimer(atMs: number, summary: string): void {
    if (this.timer?.atMs === atMs) return;
    this.disarmTimer();
    const scope = new CancellationScope();
    const timer: ArmedTimer = { atMs, scope, fired: false };
    this.timer = timer;
    // sleep() clamps anything below 1 ms; the due check above sends elapsed instants straight to a tick.
    void scope
      .run(() => sleep(Math.max(1, atMs - workflowNowMs()), { summary }))
      .then(
        () => {
          timer.fired = true;
        },
        () => undefined,
      );
  }

  private disarmTimer(): void {
    if (this.timer === undefined) return;
    if (!this.timer.fired && !this.leaveToFire(this.timer)) this.timer.scope.cancel();
    this.timer = undefined;
  }

  /**
   * A timer already due has fired on the server, or is about to: it is left to fire (its wake finds
   * nothing new) rather than cancelled in a race with the firing (SHELL_PATCH_IDS.keepDueTimer).
   * patched() is asked only when this applies, so other runs carry no marker.
   */
  private leaveToFire(timer: ArmedTimer): boolean {
    return timer.atMs <= workflowNowMs() && patched(SHELL_PATCH_IDS.keepDueTimer);
  }

  private syncSearchAttributes(): void {
    const next = searchAttributesOf(this.model, this.ctx);
    const prev = this.searchAttributes;
    const updates: SearchAttributeUpdatePair[] = [];
    if (prev?.practice !== next.practice) updates.push({ key: PracticeSearchAttribute, value: next.practice });
    if (prev?.acuity !== next.acuity) updates.push({ key: AcuitySearchAttribute, value: next.acuity });
    if (prev?.state !== next.state) updates.push({ key: StateSearchAttribute, value: next.state });
    if (prev === undefined || prev.slaDeadline !== next.slaDeadline) {
      updates.push({
        key: SlaDeadlineSearchAttribute,
        value: next.slaDeadline === null ? null : new Date(next.slaDeadline),
      });
    }
    if (updates.length > 0) upsertSearchAttributes(updates);
    this.searchAttributes = next;
  }
}

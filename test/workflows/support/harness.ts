import { randomUUID } from 'node:crypto';
import { after, before } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { LabResult } from '../../../domain/lab-result';
import type { PracticePolicy } from '../../../domain/practice';
import { createWorkerDataConverter } from '../../../lib/temporal/data-converter';
import { createLabloopWorker } from '../../../worker/create-worker';
import {
  getStatusQuery,
  LAB_RESULT_WORKFLOW_TYPE,
  labResultWorkflowId,
  resultReceivedSignal,
  signOffUpdate,
  smsTaskQueueFor,
  type LabResultWorkflowInput,
  type ResultStatusView,
  type SignOffResult,
} from '../../../workflows/definitions';
import type { labResultWorkflow } from '../../../workflows/lab-result-workflow';
import { createTimeSkippingEnv, TEST_CODEC_KEYS, workflowBundle } from '../../support/temporal';
import { FakeWorld, type WorldOptions } from './fake-world';
import { nextLocal, testPolicy } from './fixtures';

/**
 * Workflow tests on the real time-skipping server: one server per test file (time skipping is
 * global to it), one task queue pair (workflows + SMS) and one FakeWorld per scenario. Time only
 * moves forward, by `advance`/`advanceTo` (env.sleep), so a scenario that needs a wall-clock moment
 * first advances the server to it.
 */

export type LabHandle = WorkflowHandle<typeof labResultWorkflow>;

/**
 * One harness (one time-skipping server) for the enclosing `describe`: created before its tests and
 * torn down after them. Call it inside the `describe` body; scenarios run on the suite's harness.
 */
export function workflowHarnessForSuite(): Pick<WorkflowHarness, 'scenario'> {
  let harness: WorkflowHarness | undefined;
  before(async () => {
    harness = await WorkflowHarness.create();
  });
  after(async () => {
    await harness?.teardown();
  });
  return {
    scenario: (options, body) => {
      if (harness === undefined) throw new Error('the suite has no workflow harness: its before() hook did not run');
      return harness.scenario(options, body);
    },
  };
}

export class WorkflowHarness {
  private constructor(readonly env: TestWorkflowEnvironment) {}

  static async create(): Promise<WorkflowHarness> {
    return new WorkflowHarness(await createTimeSkippingEnv());
  }

  async teardown(): Promise<void> {
    await this.env.teardown();
  }

  /** Run `body` with workers serving a fresh task queue; workflows it leaves running are terminated. */
  async scenario(options: WorldOptions, body: (s: Scenario) => Promise<void>): Promise<FakeWorld> {
    const world = new FakeWorld(options);
    const taskQueue = `wf-test-${randomUUID()}`;
    const activities = world.activities();
    const worker = await createLabloopWorker({
      connection: this.env.nativeConnection,
      namespace: this.env.namespace ?? 'default',
      codecKeys: TEST_CODEC_KEYS,
      activities,
      taskQueue,
      workflowBundle: await workflowBundle(),
    });
    const createSmsWorker = () =>
      Worker.create({
        connection: this.env.nativeConnection,
        namespace: this.env.namespace ?? 'default',
        taskQueue: smsTaskQueueFor(taskQueue),
        activities,
        dataConverter: createWorkerDataConverter(TEST_CODEC_KEYS),
      });
    // A held SMS queue gets its worker only when the scenario releases it.
    const held: { sms?: { worker: Worker; running: Promise<void> } } = {};
    const releaseSmsQueue = async (): Promise<void> => {
      if (held.sms !== undefined) return;
      const late = await createSmsWorker();
      held.sms = { worker: late, running: late.run() };
    };
    const scenario = new Scenario(this.env, world, taskQueue, releaseSmsQueue);
    // Workflows are terminated while the workers still run: a workflow task left half-done by a
    // stopped worker would hold the test server's clock and stall every later scenario in the file.
    const run = async () => {
      try {
        await body(scenario);
      } finally {
        await scenario.quiesce(150);
        await scenario.replayAll();
        await scenario.terminateAll();
      }
    };
    if (options.holdSmsQueue !== true) {
      const smsWorker = await createSmsWorker();
      await smsWorker.runUntil(worker.runUntil(run()));
      return world;
    }
    try {
      await worker.runUntil(run());
    } finally {
      if (held.sms !== undefined) {
        held.sms.worker.shutdown();
        await held.sms.running;
      }
    }
    return world;
  }
}

export interface StartOptions {
  result: LabResult;
  policy?: PracticePolicy;
  /** Defaults to the server's current time. */
  receivedAt?: string;
  workflowId?: string;
}

export class Scenario {
  private readonly handles: LabHandle[] = [];

  constructor(
    readonly env: TestWorkflowEnvironment,
    readonly world: FakeWorld,
    readonly taskQueue: string,
    private readonly releaseSms: () => Promise<void> = () => Promise.resolve(),
  ) {}

  /** Start the SMS worker of a scenario whose SMS queue is held (WorldOptions.holdSmsQueue). */
  async releaseSmsQueue(): Promise<void> {
    await this.releaseSms();
  }

  async nowMs(): Promise<number> {
    return this.env.currentTimeMs();
  }

  async nowIso(): Promise<string> {
    return new Date(await this.nowMs()).toISOString();
  }

  /** Let `ms` of server time pass (timers fire on the way; activities run in real time). */
  async advance(ms: number): Promise<void> {
    if (ms > 0) await this.env.sleep(ms);
  }

  async advanceTo(instantMs: number): Promise<void> {
    await this.advance(instantMs - (await this.nowMs()));
  }

  /** Advance to the next `time` (HH:mm, practice zone) on ISO `weekday`: where a scenario starts its day. */
  async advanceToNext(weekday: number, time: string): Promise<void> {
    await this.advanceTo(nextLocal(await this.nowMs(), weekday, time).toMillis());
  }

  /** Start a workflow the way the API does (signal-with-start carrying the same message). */
  async start(options: StartOptions): Promise<LabHandle> {
    const receivedAt = options.receivedAt ?? (await this.nowIso());
    const policy = options.policy ?? testPolicy();
    const input: LabResultWorkflowInput = { result: options.result, receivedAt, policy };
    const workflowId = options.workflowId ?? labResultWorkflowId(policy.practiceId, randomUUID().replace(/-/g, ''));
    const handle = await this.env.client.workflow.signalWithStart(LAB_RESULT_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: this.taskQueue,
      args: [input],
      signal: resultReceivedSignal,
      signalArgs: [{ result: options.result, receivedAt }],
    });
    const typed = this.env.client.workflow.getHandle<typeof labResultWorkflow>(handle.workflowId);
    this.handles.push(typed);
    return typed;
  }

  /**
   * A version as the API hands every result over: signal-with-start on the result's workflow ID. It
   * reaches the open run, or starts a new run when the workflow has closed (after a cancel, or after
   * the correction window). The handle from `start` follows whichever run is the latest.
   */
  async deliver(workflowId: string, result: LabResult, policy: PracticePolicy = testPolicy()): Promise<void> {
    const receivedAt = await this.nowIso();
    await this.env.client.workflow.signalWithStart(LAB_RESULT_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: this.taskQueue,
      args: [{ result, receivedAt, policy }],
      signal: resultReceivedSignal,
      signalArgs: [{ result, receivedAt }],
    });
  }

  /** A new version from the source (re-delivery, correction, cancel, athena's sign-off). */
  async receive(handle: LabHandle, result: LabResult): Promise<void> {
    await handle.signal(resultReceivedSignal, { result, receivedAt: await this.nowIso() });
  }

  /**
   * Sign as the review app does: for the version the page showed (`expectedVersion`, by default
   * the version the status query reports right now).
   */
  async signOff(
    handle: LabHandle,
    providerId = 'prov-1',
    noteToPatient?: string,
    expectedVersion?: number,
  ): Promise<SignOffResult> {
    const shown = expectedVersion ?? Math.max(1, (await this.status(handle)).version);
    return handle.executeUpdate(signOffUpdate, {
      args: [
        {
          providerId,
          practiceId: '195900',
          via: 'review-app',
          expectedVersion: shown,
          ...(noteToPatient !== undefined ? { noteToPatient } : {}),
        },
      ],
    });
  }

  async status(handle: LabHandle): Promise<ResultStatusView> {
    return handle.query(getStatusQuery);
  }

  /** Poll (in real time) until `predicate` holds; fails with `what` after `timeoutMs`. */
  async eventually<T>(
    what: string,
    predicate: () => T | undefined | false | Promise<T | undefined | false>,
    timeoutMs = 20_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await predicate();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
      await delay(25);
    }
  }

  /** Wait until the workflow's status satisfies `predicate`. */
  /** Wait until the workflow reports the patient notified. */
  async untilNotified(handle: LabHandle): Promise<ResultStatusView> {
    return this.untilStatus(handle, 'notified', (v) => v.state === 'notified');
  }

  async untilStatus(
    handle: LabHandle,
    what: string,
    predicate: (s: ResultStatusView) => boolean,
    timeoutMs = 20_000,
  ): Promise<ResultStatusView> {
    return this.eventually(
      what,
      async () => {
        const s = await this.status(handle);
        return predicate(s) ? s : undefined;
      },
      timeoutMs,
    );
  }

  /** Let in-flight work (activities, workflow tasks) settle: nothing new for `quietMs` of real time. */
  async quiesce(quietMs = 300): Promise<void> {
    let count = -1;
    while (count !== this.world.calls.length || this.world.inFlight > 0) {
      count = this.world.calls.length;
      await delay(quietMs);
    }
  }

  /**
   * Replay every workflow's history so far against the same bundle: any scenario that exposes an
   * order-sensitive decision (something that would break a running workflow on a worker restart)
   * fails right here, not only in the committed replay fixtures.
   */
  async replayAll(): Promise<void> {
    for (const handle of this.handles) {
      const history = await handle.fetchHistory();
      await Worker.runReplayHistory(
        {
          workflowBundle: await workflowBundle(),
          // As the worker decided: unencrypted payloads refused (lib/temporal/unencrypted-payload.ts).
          dataConverter: createWorkerDataConverter(TEST_CODEC_KEYS),
          replayName: `replay-${handle.workflowId}`,
        },
        history,
        handle.workflowId,
      );
    }
  }

  async terminateAll(): Promise<void> {
    for (const handle of this.handles) {
      try {
        const d = await handle.describe();
        if (d.status.name === 'RUNNING') await handle.terminate('test over');
      } catch {
        // Already gone.
      }
    }
  }
}

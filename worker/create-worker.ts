import { Worker, type NativeConnection, type WorkflowBundleOption } from '@temporalio/worker';
import type { Activities } from '../activities';
import { createWorkerDataConverter, WORKFLOW_INTERCEPTOR_MODULES } from '../lib/temporal/data-converter';
import { TASK_QUEUE } from '../workflows/definitions';

export interface LabloopWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  codecKeys: string;
  activities: Activities;
  taskQueue?: string;
  /**
   * A prebuilt bundle (production, tests). It must be built with WORKFLOW_BUNDLE_OPTIONS, as
   * scripts/build-workflow-bundle.ts does; without it the worker bundles workflows/ at start.
   */
  workflowBundle?: WorkflowBundleOption;
  identity?: string;
  /** How long a shutdown waits for in-flight activities (worker/ops.ts shutdownTimes); default the SDK's. */
  shutdown?: { shutdownGraceTime: number; shutdownForceTime: number };
}

/** Build the worker the same way everywhere (main, dev launcher, tests) so they cannot drift. */
export function createLabloopWorker(options: LabloopWorkerOptions): Promise<Worker> {
  const workflowSource =
    options.workflowBundle !== undefined
      ? { workflowBundle: options.workflowBundle }
      : {
          workflowsPath: require.resolve('../workflows'),
          interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES },
        };
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    activities: options.activities,
    // Always: a payload without labloop's encryption (a rogue client's plain-JSON signOff or
    // resultReceived) is refused by name, never read (lib/temporal/unencrypted-payload.ts).
    dataConverter: createWorkerDataConverter(options.codecKeys),
    ...(options.identity !== undefined ? { identity: options.identity } : {}),
    ...options.shutdown,
    ...workflowSource,
  });
}

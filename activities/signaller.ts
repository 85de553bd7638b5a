import { Context } from '@temporalio/activity';
import { createWorkflowSignaller, type WorkflowSignaller } from '../lib/consent/workflow-signaller';

/**
 * The signaller an activity uses: the injected one, else the worker's own Temporal client (same
 * namespace, same payload codec). Outside an activity with nothing injected: undefined.
 */
export function activitySignaller(injected: WorkflowSignaller | undefined): WorkflowSignaller | undefined {
  if (injected !== undefined) return injected;
  try {
    return createWorkflowSignaller(Context.current().client);
  } catch {
    return undefined;
  }
}

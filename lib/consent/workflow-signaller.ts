import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';

/**
 * Signals to lab-result workflows from webhooks and staff routes. The narrow interface lets route
 * tests record what would be signalled while everything else (signature, parsing, consent, audit)
 * runs for real; the production implementation is the Temporal client.
 */
export interface WorkflowSignaller {
  /** Resolves false when the workflow no longer runs (closed or never existed), true when signalled. */
  signal<Args extends unknown[]>(workflowId: string, signal: SignalDefinition<Args>, ...args: Args): Promise<boolean>;
}

export function createWorkflowSignaller(client: Client): WorkflowSignaller {
  return {
    async signal(workflowId, signal, ...args) {
      try {
        await client.workflow.getHandle(workflowId).signal(signal, ...args);
        return true;
      } catch (err) {
        // A closed workflow cannot take signals and needs none: the change is recorded in PostgreSQL,
        // where a new workflow for the same patient will read it.
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },
  };
}

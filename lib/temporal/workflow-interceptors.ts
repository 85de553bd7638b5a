import { log, type WorkflowInterceptors } from '@temporalio/workflow';
import { isUnencryptedPayloadMarker, UNENCRYPTED_PAYLOAD_ERROR } from './unencrypted-payload';

/**
 * Workflow interceptors, bundled with the workflows (WORKFLOW_INTERCEPTOR_MODULES). A signal whose
 * payload was not encrypted by labloop's codec (the worker's codec marks it) is dropped before it
 * reaches a handler, with a warning naming the refusal: a fake `resultReceived` does nothing, and
 * the result's workflow keeps running its timers (failing the workflow task instead would stall
 * every escalation of that result behind the rogue signal). The drop depends on history alone, so
 * replays make the same decision.
 */
export const interceptors = (): WorkflowInterceptors => ({
  internals: [
    {
      activate(input, next) {
        const jobs = input.activation.jobs ?? [];
        for (let i = jobs.length - 1; i >= 0; i--) {
          const signal = jobs[i]?.signalWorkflow;
          if (signal == null || !(signal.input ?? []).some(isUnencryptedPayloadMarker)) continue;
          log.warn(`${UNENCRYPTED_PAYLOAD_ERROR}: signal dropped, its payload was not encrypted by labloop's codec`, {
            signalName: signal.signalName,
            error: UNENCRYPTED_PAYLOAD_ERROR,
          });
          jobs.splice(i, 1);
        }
        return next(input);
      },
    },
  ],
});

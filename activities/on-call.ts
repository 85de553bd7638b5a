import { ApplicationFailure } from '@temporalio/activity';
import { onCallStaffAt } from '../domain/on-call';
import type { OnCallAnswer, OnCallRequest } from '../domain/activity-contract';
import { ActivityErrorType } from '../domain/activity-error-types';

/**
 * The on-call rota as an activity: the rule is the pure one in domain/on-call.ts, run here so the
 * answer (which depends on the Node's time-zone data) is recorded in history, like the calendar's.
 * The workflow uses it for critical results, to page and assign the call task to the same person.
 */
export function createOnCallActivities() {
  return {
    resolveOnCall(request: OnCallRequest): Promise<OnCallAnswer> {
      try {
        const { staffId, shift } = onCallStaffAt(
          request.atIso,
          request.timeZone,
          request.schedule,
          request.defaultStaffId,
        );
        return Promise.resolve(shift === undefined ? { staffId } : { staffId, shift });
      } catch (err) {
        return Promise.reject(
          ApplicationFailure.nonRetryable(
            `the on-call rota cannot be read: ${err instanceof Error ? err.message : String(err)}`,
            ActivityErrorType.CONFIGURATION,
          ),
        );
      }
    },
  };
}

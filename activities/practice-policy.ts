import { ApplicationFailure } from '@temporalio/activity';
import { ActivityErrorType } from '../domain/activity-error-types';
import type { PracticePolicy } from '../domain/practice';
import type { ActivityDeps } from './deps';

/** The practice's policy; an unknown practice is our configuration's fault, so no retry can help. */
export function policyOf(deps: Pick<ActivityDeps, 'practices'>, practiceId: string): PracticePolicy {
  const policy = deps.practices.policy(practiceId);
  if (policy === undefined) {
    throw ApplicationFailure.nonRetryable(`unknown practice ${practiceId}`, ActivityErrorType.CONFIGURATION);
  }
  return policy;
}

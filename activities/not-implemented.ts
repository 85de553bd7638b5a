import { ApplicationFailure } from '@temporalio/activity';

/** Placeholder for an activity whose implementation has not landed; fails loudly, never silently. */
export function notImplemented(name: string): never {
  throw ApplicationFailure.nonRetryable(`activity ${name} is not implemented yet`, 'NotImplementedError');
}

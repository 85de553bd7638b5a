import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';

/**
 * The ApplicationFailure an activity call fails with. Fails the test when the call succeeds or
 * throws anything else, so a test can go on to assert the failure's type and retryability.
 */
export async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the activity to fail');
}

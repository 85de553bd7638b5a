import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Loaded by path (inside the workflow sandbox too). Failure messages and stack traces move into an
 * encoded payload that the codec then encrypts, because an error can quote a value from a result.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });

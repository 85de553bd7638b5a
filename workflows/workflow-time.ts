/**
 * The one sanctioned clock in workflow code. Inside Temporal's sandbox `Date` is replaced by the
 * workflow's deterministic time (the time of the current workflow task, replayed identically), so
 * this is safe; everything else in workflows/ and domain/ takes time as an argument.
 */
export function workflowNow(): string {
  // eslint-disable-next-line no-restricted-syntax -- the SDK's deterministic workflow clock
  return new Date(Date.now()).toISOString();
}

export function workflowNowMs(): number {
  // eslint-disable-next-line no-restricted-syntax -- the SDK's deterministic workflow clock
  return Date.now();
}

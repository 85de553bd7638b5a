import type { PageReason } from '../domain/activity-contract';

/**
 * What a page says about why it was sent, the same words on Spruce and on the SMS that backs a
 * critical Spruce page up. Reasons only: a page never names the patient, the test or a value.
 */
export const PAGE_REASON_TEXT: Record<PageReason, string> = {
  'critical-result': 'Critical lab result needs action',
  'abnormal-result': 'Abnormal lab result needs review',
  'sign-off-reminder': 'Lab result waiting for sign-off',
  'sign-off-escalation': 'Lab result sign-off overdue (escalated)',
  'channel-fallback': 'Patient could not be reached on the planned channel',
  'call-overdue': 'Outbound call for a lab result is overdue',
  'call-task-not-created': 'Critical lab result: the call task could not be created, call the patient',
  'patient-mismatch': 'A lab result update named a different patient and was held back',
  'result-cancelled': 'A lab result the patient may know about was cancelled by the lab',
};

/**
 * Words every layer uses about a lab result's run: the workflow's states, the channels it reaches
 * people through and the delivery statuses providers report. They live here, below everything, so
 * the audit store, the review app, the webhooks and the workflow share one list of each.
 */

export const WORKFLOW_STATES = [
  'awaiting-final',
  'awaiting-sign-off',
  'escalated',
  'critical-call',
  'notifying',
  'notified',
  'fallback',
  'closed',
] as const;
export type WorkflowState = (typeof WORKFLOW_STATES)[number];

export const CHANNELS = ['sms', 'spruce', 'portal', 'call', 'page'] as const;
export type Channel = (typeof CHANNELS)[number];

export const DELIVERY_STATUSES = ['queued', 'sent', 'delivered', 'read', 'undelivered', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

import type { CallTaskReason, PageReason } from '../domain/activity-contract';
import type { Draft } from './draft';
import type { CallTaskRecord, PageRecord } from './model';

/**
 * Pages and outbound-call tasks for staff. Each has a step name unique per version, so a decision
 * that is taken twice (a duplicate signal, a retried event) never pages or tasks twice, and the
 * outbox deduplicates the send itself.
 *
 * Pages about a critical result (CRITICAL_PAGE_REASONS) must reach a person even while Spruce is
 * down: they retry much longer (CRITICAL_PAGE_OPTIONS in activity-profiles.ts), and when Spruce has
 * not confirmed one within CRITICAL_PAGE_SMS_FALLBACK_MINUTES (or refused it for good), the same
 * person also gets a generic SMS on their own phone (sendStaffSmsPage), audited.
 */

/** Reasons whose pages concern a critical value (the call for it included). */
export const CRITICAL_PAGE_REASONS: readonly PageReason[] = [
  'critical-result',
  'call-overdue',
  'call-task-not-created',
];

/**
 * Minutes a critical page may stay unconfirmed before the SMS path starts. A Spruce page normally
 * lands within seconds (the first attempt, or the 5 s retry); two minutes without it is 4–5 failed
 * attempts (5 s → 10 → 20 → 40 s backoff, 75 s of waiting plus the attempts), which is an outage,
 * not a slow answer. Short enough that the on-call provider hears of a critical value within ~2 min.
 */
export const CRITICAL_PAGE_SMS_FALLBACK_MINUTES = 2;

export interface PageSpec {
  step: string;
  staffId: string;
  reason: PageReason;
  urgency: 'high' | 'normal';
  /** Defaults to the version that opened the current gate. */
  version?: number;
}

function isCriticalPage(reason: PageReason): boolean {
  return CRITICAL_PAGE_REASONS.includes(reason);
}

/** Page a staff member unless this step was already paged for this version. */
export function page(d: Draft, spec: PageSpec): void {
  const version = spec.version ?? d.m.gate.openedByVersion;
  if (d.m.pages.some((p) => p.step === spec.step && p.version === version)) return;
  const critical = isCriticalPage(spec.reason);
  d.m.pages.push({
    step: spec.step,
    version,
    staffId: spec.staffId,
    reason: spec.reason,
    state: 'sending',
    ...(critical ? { critical, smsFallbackAt: d.plusMinutes(CRITICAL_PAGE_SMS_FALLBACK_MINUTES) } : {}),
  });
  d.audit({
    action: 'page',
    channel: 'page',
    outcome: 'requested',
    ref: spec.staffId,
    details: { step: spec.step, staffId: spec.staffId, reason: spec.reason, urgency: spec.urgency },
  });
  d.emit({
    type: 'page',
    request: {
      workflowId: d.ctx.workflowId,
      resultVersion: version,
      step: spec.step,
      practiceId: d.policy.practiceId,
      ...(d.m.result.patient.id !== '' ? { patientId: d.m.result.patient.id } : {}),
      staffId: spec.staffId,
      reason: spec.reason,
      urgency: spec.urgency,
    },
    critical,
  });
}

/** The page is still on its way (Spruce retrying, or its SMS path running). */
export function isPageInFlight(p: PageRecord): boolean {
  return p.state === 'sending' || p.sms === 'sending';
}

/**
 * Repeated escalations would grow the state (and every decision's copy of it) without bound: before
 * the next repeat, the finished pages of earlier ones leave the model. The audit log keeps them all.
 */
export function forgetFinishedPages(d: Draft, isRepeat: (p: PageRecord) => boolean): void {
  d.m.pages = d.m.pages.filter((p) => !isRepeat(p) || isPageInFlight(p));
}

export function onPaged(d: Draft, step: string, version: number, pageRef: string, pagedAt: string): void {
  const record = d.m.pages.find((p) => p.step === step && p.version === version);
  if (record === undefined || record.state === 'sent') return;
  record.state = 'sent';
  record.pagedAt = pagedAt;
  record.ref = pageRef;
  if (record.reason === 'critical-result' && d.m.criticalPagedAt === undefined) d.m.criticalPagedAt = pagedAt;
  d.audit({
    action: 'page',
    channel: 'page',
    outcome: 'paged',
    ref: record.staffId,
    details: { step, staffId: record.staffId, reason: record.reason, pagedAt, pageRef },
  });
}

/** A page that could not be delivered goes to the administrator instead (unless it was theirs). */
export function onPageFailed(d: Draft, step: string, version: number, errorType: string | undefined): void {
  const record = d.m.pages.find((p) => p.step === step && p.version === version);
  if (record === undefined || record.state !== 'sending') return;
  record.state = 'failed';
  d.audit({
    action: 'page',
    channel: 'page',
    outcome: 'failed',
    ref: record.staffId,
    details: { step, staffId: record.staffId, reason: record.reason, errorType },
  });
  if (record.critical === true) startSmsPage(d, record);
  if (record.staffId !== d.policy.administratorId) {
    page(d, {
      step: `${step}-to-admin`,
      staffId: d.policy.administratorId,
      reason: record.reason,
      urgency: 'high',
      version,
    });
  }
}

/** Critical pages Spruce has not confirmed in time also go by SMS. */
export function smsPagesIfDue(d: Draft): void {
  for (const record of d.m.pages) {
    if (
      record.critical === true &&
      record.state === 'sending' &&
      record.sms === undefined &&
      d.isDue(record.smsFallbackAt)
    )
      startSmsPage(d, record);
  }
}

/** The SMS path of a critical page: once per page, to the person the page was for. */
function startSmsPage(d: Draft, record: PageRecord): void {
  if (record.sms !== undefined) return;
  record.sms = 'sending';
  d.audit({
    action: 'page',
    channel: 'page',
    outcome: 'sms-fallback-requested',
    ref: record.staffId,
    details: { step: record.step, staffId: record.staffId, reason: record.reason, spruceState: record.state },
  });
  d.emit({
    type: 'staffSmsPage',
    request: {
      workflowId: d.ctx.workflowId,
      resultVersion: record.version,
      step: `${record.step}-sms`,
      practiceId: d.policy.practiceId,
      staffId: record.staffId,
      reason: record.reason,
    },
  });
}

function findSmsPage(d: Draft, step: string, version: number): PageRecord | undefined {
  return d.m.pages.find((p) => `${p.step}-sms` === step && p.version === version);
}

export function onStaffSmsPaged(d: Draft, step: string, version: number, pageRef: string, pagedAt: string): void {
  const record = findSmsPage(d, step, version);
  if (record?.sms !== 'sending') return;
  record.sms = 'sent';
  record.smsRef = pageRef;
  // The provider was reached about the critical value: that is the page time to log.
  if (record.reason === 'critical-result' && d.m.criticalPagedAt === undefined) d.m.criticalPagedAt = pagedAt;
  d.audit({
    action: 'page',
    channel: 'page',
    outcome: 'sms-paged',
    ref: record.staffId,
    details: { step: record.step, staffId: record.staffId, reason: record.reason, pagedAt, pageRef },
  });
}

export function onStaffSmsPageFailed(d: Draft, step: string, version: number, errorType: string | undefined): void {
  const record = findSmsPage(d, step, version);
  if (record?.sms !== 'sending') return;
  record.sms = 'failed';
  d.audit({
    action: 'page',
    channel: 'page',
    outcome: 'sms-page-failed',
    ref: record.staffId,
    details: { step: record.step, staffId: record.staffId, reason: record.reason, errorType },
  });
  // Neither path reached this person (no pagerPhone, or Twilio refused): the administrator now,
  // rather than when the Spruce page gives up. Same step as onPageFailed's, so only one such page.
  if (record.state === 'sending' && record.staffId !== d.policy.administratorId) {
    page(d, {
      step: `${record.step}-to-admin`,
      staffId: d.policy.administratorId,
      reason: record.reason,
      urgency: 'high',
      version: record.version,
    });
  }
}

export interface CallTaskSpec {
  step: string;
  reason: CallTaskReason;
  priority: 'urgent' | 'normal';
  assignToStaffId?: string;
  /** Critical calls: when the administrator is paged if the call is not completed (or not even created). */
  escalateAt?: string;
}

/** Create an outbound-call task unless this step already has one for the current version. */
export function createCallTask(d: Draft, spec: CallTaskSpec): void {
  const version = d.m.version;
  if (d.m.callTasks.some((t) => t.step === spec.step && t.version === version)) return;
  d.m.callTasks.push({
    step: spec.step,
    version,
    epoch: d.m.gate.epoch,
    reason: spec.reason,
    state: 'creating',
    escalated: false,
    ...(spec.escalateAt !== undefined ? { escalateAt: spec.escalateAt } : {}),
  });
  d.audit({
    action: 'call-task',
    channel: 'call',
    outcome: 'requested',
    details: { step: spec.step, reason: spec.reason, priority: spec.priority, assignTo: spec.assignToStaffId },
  });
  d.emit({
    type: 'createCallTask',
    request: {
      workflowId: d.ctx.workflowId,
      resultVersion: version,
      step: spec.step,
      practiceId: d.policy.practiceId,
      patientId: d.m.result.patient.id,
      reason: spec.reason,
      priority: spec.priority,
      ...(spec.assignToStaffId !== undefined ? { assignToStaffId: spec.assignToStaffId } : {}),
    },
  });
}

export function findCallTask(d: Draft, step: string, version: number): CallTaskRecord | undefined {
  return d.m.callTasks.find((t) => t.step === step && t.version === version);
}

export function onCallTaskCreated(d: Draft, step: string, version: number, taskId: string): void {
  const task = findCallTask(d, step, version);
  if (task === undefined || task.state !== 'creating') return;
  task.state = 'open';
  task.taskId = taskId;
  task.createdAt = d.now;
  if (task.reason === 'critical-result') task.escalateAt ??= d.plusMinutes(d.policy.criticalCallEscalationMinutes);
  d.audit({ action: 'call-task', channel: 'call', outcome: 'created', ref: taskId, details: { step, taskId } });
}

/** A call task that cannot be created must reach a person some other way: page the administrator. */
export function onCallTaskFailed(d: Draft, step: string, version: number, errorType: string | undefined): void {
  const task = findCallTask(d, step, version);
  if (task === undefined || task.state !== 'creating') return;
  task.state = 'failed';
  d.audit({ action: 'call-task', channel: 'call', outcome: 'failed', details: { step, errorType } });
  page(d, {
    step: `${step}-failed-admin`,
    staffId: d.policy.administratorId,
    reason: task.reason === 'critical-result' ? 'critical-result' : 'channel-fallback',
    urgency: 'high',
    version,
  });
}

/** Whether a call task still needs staff (being created or open). */
export function isOpenCallTask(task: CallTaskRecord): boolean {
  return task.state === 'creating' || task.state === 'open';
}

/** Tell the ordering provider (or the on-call provider) that a result the patient may know about was cancelled. */
export function pageAboutCancel(d: Draft, urgency: 'high' | 'normal'): void {
  const orderer = d.m.result.orderingProvider?.id;
  page(d, {
    step: 'page-result-cancelled',
    staffId: orderer !== undefined && orderer !== '' ? orderer : d.policy.onCallProviderId,
    reason: 'result-cancelled',
    urgency,
    version: d.m.version,
  });
}

import type { CallTaskReason, PageReason } from '../activities/contract';
import type { Draft } from './draft';
import type { CallTaskRecord } from './model';

/**
 * Pages and outbound-call tasks for staff. Each has a step name unique per version, so a decision
 * that is taken twice (a duplicate signal, a retried event) never pages or tasks twice, and the
 * outbox deduplicates the send itself.
 */

export interface PageSpec {
  step: string;
  staffId: string;
  reason: PageReason;
  urgency: 'high' | 'normal';
  /** Defaults to the version that opened the current gate. */
  version?: number;
}

/** Page a staff member unless this step was already paged for this version. */
export function page(d: Draft, spec: PageSpec): void {
  const version = spec.version ?? d.m.gate.openedByVersion;
  if (d.m.pages.some((p) => p.step === spec.step && p.version === version)) return;
  d.m.pages.push({ step: spec.step, version, staffId: spec.staffId, reason: spec.reason, state: 'sending' });
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
      staffId: spec.staffId,
      reason: spec.reason,
      urgency: spec.urgency,
    },
  });
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

export interface CallTaskSpec {
  step: string;
  reason: CallTaskReason;
  priority: 'urgent' | 'normal';
  assignToStaffId?: string;
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
  if (task.reason === 'critical-result') task.escalateAt = d.plusMinutes(d.policy.criticalCallEscalationMinutes);
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

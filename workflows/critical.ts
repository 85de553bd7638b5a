import type { CallCompletedEvent } from './definitions';
import type { Draft } from './draft';
import { createCallTask, isOpenCallTask, page } from './staff';

/**
 * Critical (panic) values: at first sight, before any sign-off, the on-call provider is paged and an
 * outbound-call task is created; the page time is logged (criticalPagedAt, audit). If the call task
 * is not completed within policy.criticalCallEscalationMinutes the administrator is paged. No
 * automated patient message is ever sent for a critical result: a person calls.
 */

/** A gate opened on a critical version (first sight or a correction that is critical). */
export function onCriticalGate(d: Draft): void {
  const { m } = d;
  if (m.cancelled || m.acuity !== 'critical') return;
  d.audit({
    action: 'routing-decision',
    outcome: 'critical-page-and-call',
    details: { epoch: m.gate.epoch, status: m.result.status },
  });
  page(d, {
    step: 'page-critical-oncall',
    staffId: d.policy.onCallProviderId,
    reason: 'critical-result',
    urgency: 'high',
  });
  // One open call is enough: a correction while staff are already calling pages again but does not
  // stack a second task on the same patient.
  const open = m.callTasks.some((t) => t.reason === 'critical-result' && isOpenCallTask(t));
  if (!open) {
    createCallTask(d, {
      step: 'call-critical',
      reason: 'critical-result',
      priority: 'urgent',
      assignToStaffId: d.policy.onCallProviderId,
    });
  }
}

/** Critical call tasks still open at their deadline escalate to the administrator. */
export function escalateOverdueCalls(d: Draft): void {
  for (const task of d.m.callTasks) {
    if (task.reason !== 'critical-result' || task.state !== 'open' || task.escalated || !d.isDue(task.escalateAt))
      continue;
    escalateCall(d, task.step, task.version, 'not-completed-in-time');
  }
}

function escalateCall(d: Draft, step: string, version: number, why: string): void {
  const task = d.m.callTasks.find((t) => t.step === step && t.version === version);
  if (task === undefined || task.escalated || d.m.cancelled) return;
  task.escalated = true;
  d.audit({
    action: 'escalation',
    channel: 'call',
    outcome: `call-${why}`,
    ref: task.taskId,
    details: { step, taskId: task.taskId },
  });
  page(d, {
    step: `call-overdue-${step}`,
    staffId: d.policy.administratorId,
    reason: 'call-overdue',
    urgency: 'high',
    version,
  });
}

/**
 * Staff finished a call task in the review app. "reached" means the patient was told by a person;
 * any other outcome of a critical call pages the administrator at once (a human decides what next).
 */
export function onCallCompleted(d: Draft, call: CallCompletedEvent): void {
  const task = d.m.callTasks.find((t) => t.taskId === call.taskId);
  if (task === undefined) {
    d.audit({
      action: 'call-task',
      channel: 'call',
      outcome: 'completed-unknown-task',
      ref: call.taskId,
      details: { taskId: call.taskId },
    });
    return;
  }
  if (task.state === 'completed') return;
  task.state = 'completed';
  task.outcome = call.outcome;
  task.completedBy = call.staffId;
  d.audit({
    action: 'call-task',
    channel: 'call',
    actor: { type: 'staff', id: call.staffId },
    outcome: `completed-${call.outcome}`,
    ref: call.taskId,
    details: { step: task.step, taskId: call.taskId, staffId: call.staffId, reason: task.reason },
  });
  if (call.outcome === 'reached') {
    d.m.patientToldVersion = Math.max(d.m.patientToldVersion ?? 0, task.version);
    return;
  }
  if (task.reason === 'critical-result') escalateCall(d, task.step, task.version, call.outcome);
}

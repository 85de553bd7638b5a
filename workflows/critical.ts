import { criticalCallRepeatMinutes } from '../domain/escalation';
import type { CallCompletedEvent, LabResultWorkflowInput } from './definitions';
import type { Draft } from './draft';
import type { CallTaskRecord, PageRecord } from './model';
import { createCallTask, forgetFinishedPages, isOpenCallTask, isPageInFlight, page } from './staff';

/**
 * Critical (panic) values: at first sight, before any sign-off and before earlier runs are even
 * known, the on-call provider (from the practice's rota at that moment) is paged, and an
 * outbound-call task is created and assigned to them; the page time is logged (criticalPagedAt,
 * audit). If the call is not completed within policy.criticalCallEscalationMinutes of the result's
 * arrival (the version's receipt), the administrator is paged: counted from the arrival, not from
 * the task's creation, so an athena outage that keeps the task from being created escalates on time
 * too (with the reason `call-task-not-created`, while creation keeps retrying). No automated
 * patient message is ever sent for a critical result: a person calls.
 */

/** `resolveOnCall` epoch of the first-sight page: no gate is open yet (gates count from 1). */
export const FIRST_SIGHT_EPOCH = 0;

/**
 * The run has just started and its first message is critical: page the on-call provider now, before
 * earlier runs are known (findPriorRuns is a database read, and a panic value must not wait on it).
 * The page's send keys are its own (version 0, a step named for the run): version numbers are not
 * known yet, and keys of an earlier run must not swallow it. The call task waits for the gate that
 * takes the message in (its key and its patient check need the run's numbering), and its
 * escalation still counts from the message's arrival.
 */
export function pageAtFirstSight(d: Draft, input: LabResultWorkflowInput): void {
  const { m } = d;
  const result = input.result;
  if (m.firstSight !== undefined || m.acuity !== 'critical') return;
  if (result.status === 'cancelled' || result.practiceId !== d.policy.practiceId) return;
  m.firstSight = { messageId: result.messageId, step: `page-critical-oncall-${d.ctx.runId}` };
  d.audit({
    action: 'routing-decision',
    outcome: 'critical-page-at-first-sight',
    details: { status: result.status, step: m.firstSight.step },
  });
  d.emit({ type: 'resolveOnCall', epoch: FIRST_SIGHT_EPOCH, atIso: d.now });
}

/** A gate opened on a critical version (first sight or a correction that is critical). */
export function onCriticalGate(d: Draft): void {
  const { m } = d;
  if (m.cancelled || m.acuity !== 'critical') return;
  const gate = m.gate;
  // The call's escalation counts from the version's arrival, not from when this run got to it.
  gate.criticalSince = m.versionReceivedAt;
  d.audit({
    action: 'routing-decision',
    outcome: 'critical-page-and-call',
    details: { epoch: gate.epoch, status: m.result.status },
  });
  const early = m.firstSight;
  if (early !== undefined && early.gateEpoch === undefined && early.messageId === m.result.messageId) {
    // Paged at first sight already: the same person gets the call task, nobody is paged twice.
    early.gateEpoch = gate.epoch;
    if (early.onCallStaffId !== undefined) {
      gate.onCallStaffId = early.onCallStaffId;
      openCriticalCall(d, early.onCallStaffId);
    }
    return;
  }
  // The rota is read by an activity (its time-zone answer is then in history); it answers in
  // milliseconds, and the page and the call task wait for it so both go to the same person.
  d.emit({ type: 'resolveOnCall', epoch: gate.epoch, atIso: d.now });
}

interface OnCallAnswer {
  staffId: string;
  shift?: number;
  failed?: boolean;
}

function auditRota(d: Draft, answer: OnCallAnswer): void {
  if (answer.failed === true || answer.staffId !== d.policy.onCallProviderId) {
    d.audit({
      action: 'routing-decision',
      channel: 'page',
      outcome: answer.failed === true ? 'on-call-rota-unreadable' : 'on-call-rota',
      ref: answer.staffId,
      details: { requested: d.policy.onCallProviderId, paged: answer.staffId, shift: answer.shift ?? null },
    });
  }
}

/** The on-call provider is known: page them and give them the call task. */
export function onOnCallResolved(d: Draft, epoch: number, answer: OnCallAnswer): void {
  if (epoch === FIRST_SIGHT_EPOCH) return onFirstSightResolved(d, answer);
  const { m } = d;
  const gate = m.gate;
  if (epoch !== gate.epoch || gate.onCallStaffId !== undefined || gate.criticalSince === undefined) return;
  const staffId = answer.staffId;
  gate.onCallStaffId = staffId;
  auditRota(d, answer);
  if (m.cancelled || m.acuity !== 'critical') return;
  page(d, { step: 'page-critical-oncall', staffId, reason: 'critical-result', urgency: 'high' });
  openCriticalCall(d, staffId);
}

/** The rota answered for the first-sight page: page now; a gate that took the message in gets its call task. */
function onFirstSightResolved(d: Draft, answer: OnCallAnswer): void {
  const { m } = d;
  const early = m.firstSight;
  if (early === undefined || early.onCallStaffId !== undefined) return;
  const staffId = answer.staffId;
  early.onCallStaffId = staffId;
  auditRota(d, answer);
  if (m.cancelled) return;
  page(d, { step: early.step, staffId, reason: 'critical-result', urgency: 'high', version: 0 });
  const gate = m.gate;
  if (early.gateEpoch === gate.epoch && gate.criticalSince !== undefined && gate.onCallStaffId === undefined) {
    gate.onCallStaffId = staffId;
    if (m.acuity === 'critical') openCriticalCall(d, staffId);
  }
}

/**
 * The outbound-call task for the current critical gate. One open call is enough: a correction while
 * staff are already calling pages again but does not stack a second task on the same patient.
 */
function openCriticalCall(d: Draft, staffId: string): void {
  const gate = d.m.gate;
  if (gate.criticalSince === undefined) return;
  const open = d.m.callTasks.some((t) => t.reason === 'critical-result' && isOpenCallTask(t));
  if (open) return;
  createCallTask(d, {
    step: 'call-critical',
    reason: 'critical-result',
    priority: 'urgent',
    assignToStaffId: staffId,
    escalateAt: new Date(
      Date.parse(gate.criticalSince) + d.policy.criticalCallEscalationMinutes * 60_000,
    ).toISOString(),
  });
}

/**
 * Critical calls not completed at their deadline escalate to the administrator: an open task as
 * overdue, one still being created (athena down) as not created. Creation keeps retrying either way.
 * An escalated task that stays open pages the administrator again every criticalCallRepeatMinutes
 * (patch repeatEscalation) until it is completed or the result is cancelled.
 */
export function escalateOverdueCalls(d: Draft): void {
  for (const task of d.m.callTasks) {
    if (task.reason !== 'critical-result' || !isOpenCallTask(task)) continue;
    if (task.escalated) {
      if (d.isDue(task.repeatAt)) repeatCallEscalation(d, task);
      continue;
    }
    if (!d.isDue(task.escalateAt)) continue;
    escalateCall(d, task.step, task.version, task.state === 'creating' ? 'task-not-created' : 'not-completed-in-time');
  }
}

/** The administrator again, while an escalated critical call is still open (or still not created). */
function repeatCallEscalation(d: Draft, task: CallTaskRecord): void {
  if (d.m.cancelled) {
    task.repeatAt = undefined;
    return;
  }
  task.repeatAt = d.plusMinutes(criticalCallRepeatMinutes(d.policy));
  const first = `call-overdue-${task.step}`;
  const prefix = `${first}-repeat-`;
  const series = (p: PageRecord) => p.version === task.version && (p.step === first || p.step.startsWith(prefix));
  // The last page is still on its way (Spruce retrying, its SMS path running): not a second beside it.
  if (d.m.pages.some((p) => series(p) && isPageInFlight(p))) return;
  const repeat = (task.repeats ?? 0) + 1;
  task.repeats = repeat;
  const why = task.state === 'creating' ? 'task-not-created' : 'still-open';
  d.audit({
    action: 'escalation',
    channel: 'call',
    outcome: `call-${why}-repeat`,
    ref: task.taskId,
    details: { step: task.step, taskId: task.taskId, repeat },
  });
  forgetFinishedPages(d, (p) => series(p) && p.step !== first);
  page(d, {
    step: `${prefix}${repeat}`,
    staffId: d.policy.administratorId,
    reason: task.state === 'creating' ? 'call-task-not-created' : 'call-overdue',
    urgency: 'high',
    version: task.version,
  });
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
    reason: task.state === 'creating' ? 'call-task-not-created' : 'call-overdue',
    urgency: 'high',
    version,
  });
  if (d.patches.repeatEscalation && isOpenCallTask(task))
    task.repeatAt = d.plusMinutes(criticalCallRepeatMinutes(d.policy));
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

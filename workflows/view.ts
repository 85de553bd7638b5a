import type { ReviewItem } from '../domain/activity-contract';
import type { DeliveryView, ResultDetail, ResultStatusView, WorkflowState } from './definitions';
import type { DecisionContext } from './draft';
import type { Delivery, Model } from './model';
import { isOpenCallTask } from './staff';
import { waitingOn } from './waiting';

/**
 * Read models derived from the state: the workflow state, the status query (no PHI: IDs, states,
 * times, channels and outcomes), the review app's item, and the search attribute values.
 */

/** The workflow state shown everywhere, derived (never stored) so it cannot drift from the facts. */
export function phaseOf(m: Model): WorkflowState {
  if (m.closed || m.cancelled) return 'closed';
  const gate = m.gate;
  if (m.acuity === 'critical' && m.callTasks.some((t) => t.reason === 'critical-result' && isOpenCallTask(t))) {
    return 'critical-call';
  }
  if (m.result.status === 'preliminary') return 'awaiting-final';
  if (gate.signature === undefined) return gate.escalationLevel > 0 ? 'escalated' : 'awaiting-sign-off';
  if (gate.fallback) return 'fallback';
  const current = m.deliveries.filter((x) => x.epoch === gate.epoch);
  const inFlight = current.some(
    (x) => x.state === 'scheduling' || x.state === 'held' || x.state === 'sending' || x.state === 'cancelling',
  );
  if (gate.routing !== 'planned' || inFlight) return 'notifying';
  return 'notified';
}

/**
 * The SLA deadline while unsigned: the next rung's deadline once escalation has started, and the
 * deadline it missed once the ladder is exhausted (repeats do not make an overdue result look on time).
 */
export function slaDeadlineOf(m: Model): string | undefined {
  if (m.gate.signature !== undefined || m.cancelled) return undefined;
  if (m.gate.overdueSince !== undefined) return m.gate.slaDeadline ?? m.gate.overdueSince;
  return m.gate.nextEscalationAt ?? m.gate.slaDeadline;
}

function deliveryView(x: Delivery): DeliveryView {
  const status: DeliveryView['status'] =
    x.state === 'accepted'
      ? (x.status ?? 'queued')
      : x.state === 'held'
        ? 'held'
        : x.state === 'failed' || x.state === 'cancelled'
          ? 'failed'
          : 'pending';
  return {
    channel: x.channel,
    step: `v${x.version}:${x.step}`,
    status,
    ...(x.providerMessageId !== undefined ? { providerMessageId: x.providerMessageId } : {}),
    ...(x.failure !== undefined
      ? { errorCode: x.errorCode ?? x.failure }
      : x.errorCode !== undefined
        ? { errorCode: x.errorCode }
        : {}),
    ...(x.dueAt !== undefined && x.state === 'held' ? { dueAt: x.dueAt } : {}),
  };
}

/** When the first critical call still pending will escalate to the administrator. */
function criticalCallEscalatesAt(m: Model): string | undefined {
  const due = m.callTasks
    .filter((t) => t.reason === 'critical-result' && isOpenCallTask(t) && !t.escalated && t.escalateAt !== undefined)
    .map((t) => t.escalateAt as string);
  return due.length === 0 ? undefined : due.reduce((a, b) => (Date.parse(a) <= Date.parse(b) ? a : b));
}

export function statusView(m: Model, ctx: DecisionContext): ResultStatusView {
  const signature = m.gate.signature;
  const slaDeadline = slaDeadlineOf(m);
  const escalatesAt = m.cancelled ? undefined : criticalCallEscalatesAt(m);
  return {
    workflowId: ctx.workflowId,
    practiceId: ctx.policy.practiceId,
    state: phaseOf(m),
    acuity: m.acuity,
    resultStatus: m.result.status,
    version: m.version,
    receivedAt: m.firstReceivedAt,
    signed: signature !== undefined,
    ...(signature !== undefined ? { signedBy: signature.by, signedAt: signature.at } : {}),
    ...(slaDeadline !== undefined ? { slaDeadline } : {}),
    escalationLevel: m.gate.escalationLevel,
    deliveries: [
      ...m.deliveries.map(deliveryView),
      ...m.pages.map((p): DeliveryView => ({
        channel: 'page',
        step: `v${p.version}:${p.step}`,
        status: p.state === 'sent' ? 'sent' : p.state === 'failed' ? 'failed' : 'pending',
        ...(p.ref !== undefined ? { providerMessageId: p.ref } : {}),
      })),
      ...m.pages
        .filter((p) => p.sms !== undefined)
        .map((p): DeliveryView => ({
          channel: 'page',
          step: `v${p.version}:${p.step}-sms`,
          status: p.sms === 'sent' ? 'sent' : p.sms === 'failed' ? 'failed' : 'pending',
          ...(p.smsRef !== undefined ? { providerMessageId: p.smsRef } : {}),
        })),
    ],
    actions: m.actions.map((a) => ({ ...a })),
    ...(m.criticalPagedAt !== undefined ? { criticalPagedAt: m.criticalPagedAt } : {}),
    ...(escalatesAt !== undefined ? { criticalCallEscalatesAt: escalatesAt } : {}),
    ...(m.gate.unreadCallAt !== undefined && !m.cancelled ? { unreadCallDueAt: m.gate.unreadCallAt } : {}),
    ...(m.patientToldVersion !== undefined ? { patientNotifiedVersion: m.patientToldVersion } : {}),
    ...(m.patientMismatch !== undefined
      ? { patientMismatch: { count: m.patientMismatch.count, lastAt: m.patientMismatch.lastAt } }
      : {}),
    callTasks: m.callTasks.map((t) => ({
      step: `v${t.version}:${t.step}`,
      reason: t.reason,
      status: t.state,
      ...(t.taskId !== undefined ? { taskId: t.taskId } : {}),
      ...(t.outcome !== undefined ? { outcome: t.outcome } : {}),
      ...(t.escalateAt !== undefined ? { escalatesAt: t.escalateAt } : {}),
      escalated: t.escalated,
    })),
    ...(m.closeAt !== undefined && !m.closed ? { closesAt: m.closeAt } : {}),
    waitingOn: waitingOn(m, ctx.policy),
  };
}

export function resultDetail(m: Model, ctx: DecisionContext): ResultDetail {
  return { view: statusView(m, ctx), result: m.result, annotations: m.annotations.map((a) => ({ ...a })) };
}

export function reviewItemOf(m: Model, ctx: DecisionContext): ReviewItem {
  const patient = m.result.patient;
  const name = [patient.firstName, patient.lastName].filter((p) => p !== undefined && p !== '').join(' ');
  const signature = m.gate.signature;
  const slaDeadline = slaDeadlineOf(m);
  return {
    workflowId: ctx.workflowId,
    practiceId: ctx.policy.practiceId,
    patientId: patient.id,
    ...(name !== '' ? { patientName: name } : {}),
    ...(m.result.panelName !== undefined ? { panelName: m.result.panelName } : {}),
    ...(m.result.orderingProvider !== undefined ? { orderingProviderId: m.result.orderingProvider.id } : {}),
    acuity: m.acuity,
    resultStatus: m.result.status,
    state: phaseOf(m),
    signed: signature !== undefined,
    ...(signature !== undefined ? { signedBy: signature.by, signedAt: signature.at } : {}),
    receivedAt: m.versionReceivedAt,
    ...(slaDeadline !== undefined ? { slaDeadline } : {}),
    escalationLevel: m.gate.escalationLevel,
    ...(m.criticalPagedAt !== undefined ? { criticalPagedAt: m.criticalPagedAt } : {}),
    version: m.version,
  };
}

/** Search attribute values (no PHI): practice, acuity, state and the SLA deadline (null clears it). */
export interface SearchAttributeValues {
  practice: string;
  acuity: string;
  state: WorkflowState;
  slaDeadline: string | null;
}

export function searchAttributesOf(m: Model, ctx: DecisionContext): SearchAttributeValues {
  return {
    practice: ctx.policy.practiceId,
    acuity: m.acuity,
    state: phaseOf(m),
    slaDeadline: slaDeadlineOf(m) ?? null,
  };
}

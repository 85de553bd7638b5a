import type { Acuity } from '../../domain/lab-result';
import type { PracticePolicy } from '../../domain/practice';
import { ACUITY_LABELS, escalationLabel, flagLabel, isFlagged, STATE_LABELS } from '../../lib/review/labels';
import type { QueueItem } from '../../lib/review/queue';
import { staffDisplayName } from '../../lib/review/staff';
import { describeDeadline, formatAge, formatLocal, type DeadlineView } from '../../lib/review/time-left';
import type { ResultDetail, WorkflowState } from '../../workflows/definitions';

/**
 * Plain data for the templates: every label, date and link is decided here, so templates only lay
 * out what they are given (and eta escapes all of it).
 */

export function resultHref(workflowId: string): string {
  return `/review/results/${encodeURIComponent(workflowId)}`;
}

export interface AcuityBadge {
  acuity: Acuity;
  label: string;
}

export interface QueueRowView {
  workflowId: string;
  href: string;
  patientName: string;
  patientId: string;
  panelName: string;
  acuity: AcuityBadge;
  stateLabel: string;
  escalation?: string;
  /** Escalated and past its deadline: the workflow keeps paging until a provider signs (docs/workflow.md). */
  overdue?: string;
  deadline?: DeadlineView;
  received: string;
  receivedAgo: string;
  orderingProvider?: string;
  preliminary: boolean;
}

export function queueRowView(item: QueueItem, practice: PracticePolicy, now: Date): QueueRowView {
  const zone = practice.calendar.timeZone;
  const orderingProvider = staffDisplayName(practice, item.orderingProviderId);
  const escalation = escalationLabel(item.escalationLevel);
  const deadline = describeDeadline(item.slaDeadline, now, zone);
  return {
    workflowId: item.workflowId,
    href: resultHref(item.workflowId),
    patientName: item.patientName ?? `Patient ${item.patientId}`,
    patientId: item.patientId,
    panelName: item.panelName ?? 'Lab result',
    acuity: { acuity: item.acuity, label: ACUITY_LABELS[item.acuity] },
    stateLabel: STATE_LABELS[item.state],
    ...(escalation === undefined ? {} : { escalation }),
    ...(deadline?.overdue === true && item.escalationLevel > 0 ? { overdue: 'Overdue: paging until signed' } : {}),
    ...(deadline === undefined ? {} : { deadline }),
    received: formatLocal(item.receivedAt, zone),
    receivedAgo: formatAge(item.receivedAt, now),
    ...(orderingProvider === undefined ? {} : { orderingProvider }),
    preliminary: item.resultStatus === 'preliminary',
  };
}

export interface ObservationRowView {
  name: string;
  code: string;
  value: string;
  units: string;
  range: string;
  flag?: string;
  flagLabel?: string;
  flagged: boolean;
  comments: string[];
}

export interface HistoryEntryView {
  at: string;
  iso: string;
  what: string;
  who?: string;
}

export interface SignOffView {
  signed: boolean;
  signedBy?: string;
  signedAt?: string;
  state: WorkflowState;
  stateLabel: string;
}

export interface ResultDetailView {
  workflowId: string;
  href: string;
  patient: { name: string; id: string; birthDate?: string; phone?: string };
  panelName: string;
  panelCode?: string;
  resultStatus: string;
  acuity: AcuityBadge;
  reportedAt?: string;
  receivedAt: string;
  orderingProvider?: string;
  deadline?: DeadlineView;
  escalation?: string;
  signOff: SignOffView;
  observations: ObservationRowView[];
  comments: string[];
  history: HistoryEntryView[];
  annotations: { at: string; who: string; text: string }[];
  version: number;
  preliminary: boolean;
}

export function signOffView(
  practice: PracticePolicy,
  input: { signed: boolean; signedBy?: string; signedAt?: string; state: WorkflowState },
): SignOffView {
  const zone = practice.calendar.timeZone;
  const signedBy = staffDisplayName(practice, input.signedBy);
  return {
    signed: input.signed,
    ...(signedBy === undefined ? {} : { signedBy }),
    ...(input.signedAt === undefined ? {} : { signedAt: formatLocal(new Date(input.signedAt), zone) }),
    state: input.state,
    stateLabel: STATE_LABELS[input.state],
  };
}

export function resultDetailView(detail: ResultDetail, practice: PracticePolicy, now: Date): ResultDetailView {
  const zone = practice.calendar.timeZone;
  const { view, result } = detail;
  const patientName = [result.patient.firstName, result.patient.lastName]
    .filter((n) => n !== undefined && n !== '')
    .join(' ');
  const deadline =
    view.signed || view.slaDeadline === undefined ? undefined : describeDeadline(new Date(view.slaDeadline), now, zone);
  const escalation = escalationLabel(view.escalationLevel);
  const orderingProvider =
    result.orderingProvider === undefined
      ? undefined
      : (practice.staff.find((s) => s.id === result.orderingProvider?.id || s.npi === result.orderingProvider?.id)
          ?.name ??
        result.orderingProvider.name ??
        result.orderingProvider.id);

  const history: (HistoryEntryView & { sortKey: number })[] = [
    {
      at: formatLocal(new Date(view.receivedAt), zone),
      iso: view.receivedAt,
      what: 'Result received',
      sortKey: Date.parse(view.receivedAt),
    },
    ...view.actions.map((a) => {
      const who = staffDisplayName(practice, a.ref);
      return {
        at: formatLocal(new Date(a.at), zone),
        iso: a.at,
        what: [a.kind, a.channel, a.outcome].filter((p) => p !== undefined && p !== '').join(' · '),
        ...(who === undefined ? {} : { who }),
        sortKey: Date.parse(a.at),
      };
    }),
  ];
  history.sort((a, b) => a.sortKey - b.sortKey);

  return {
    workflowId: view.workflowId,
    href: resultHref(view.workflowId),
    patient: {
      name: patientName === '' ? `Patient ${result.patient.id}` : patientName,
      id: result.patient.id,
      ...(result.patient.birthDate === undefined ? {} : { birthDate: result.patient.birthDate }),
      ...(result.patient.mobilePhone === undefined ? {} : { phone: result.patient.mobilePhone }),
    },
    panelName: result.panelName ?? 'Lab result',
    ...(result.panelCode === undefined ? {} : { panelCode: result.panelCode }),
    resultStatus: result.status,
    acuity: { acuity: view.acuity, label: ACUITY_LABELS[view.acuity] },
    ...(result.reportedAt === undefined ? {} : { reportedAt: formatLocal(new Date(result.reportedAt), zone) }),
    receivedAt: formatLocal(new Date(view.receivedAt), zone),
    ...(orderingProvider === undefined ? {} : { orderingProvider }),
    ...(deadline === undefined ? {} : { deadline }),
    ...(escalation === undefined ? {} : { escalation }),
    signOff: signOffView(practice, view),
    observations: result.observations.map((o) => {
      const label = flagLabel(o.flag);
      return {
        name: o.name,
        code: o.code,
        value: o.value,
        units: o.units ?? '',
        range: o.referenceRange ?? '',
        ...(o.flag === undefined || o.flag === '' ? {} : { flag: o.flag }),
        ...(label === undefined ? {} : { flagLabel: label }),
        flagged: isFlagged(o.flag),
        comments: o.comments ?? [],
      };
    }),
    comments: result.comments ?? [],
    history: history.map(({ sortKey: _sortKey, ...entry }) => entry),
    annotations: detail.annotations.map((a) => ({
      at: formatLocal(new Date(a.at), zone),
      who: staffDisplayName(practice, a.providerId) ?? a.providerId,
      text: a.text,
    })),
    version: view.version,
    preliminary: result.status === 'preliminary',
  };
}

import { escalationRepeatMinutes } from '../domain/escalation';
import type { Acuity } from '../domain/lab-result';
import type { PracticePolicy } from '../domain/practice';
import { ANNOTATION_MAX_CHARS, type AnnotationRequest, type SignOffRequest } from './definitions';
import type { Draft } from './draft';
import type { Model, PageRecord, Signature } from './model';
import { forgetFinishedPages, isPageInFlight, page } from './staff';

/**
 * The two-key gate: nothing automated reaches the patient until a provider has signed the current
 * version. Unsigned results get a business-hours deadline (received + the practice's SLA, 4 business
 * hours for normal, 1 for abnormal and critical) and then climb an escalation ladder, one rung per
 * step interval: the ordering provider is reminded, then the covering/on-call provider, then the
 * practice administrator, and then the administrator again at an interval until someone signs
 * (escalateIfDue). The ladder only pages people; it never releases anything.
 */

/** Business minutes a provider has to sign. Criticals use the abnormal SLA (the call already went out). */
export function slaMinutes(d: Draft, acuity: Acuity): number {
  return acuity === 'normal' ? d.policy.signOffSlaMinutes.normal : d.policy.signOffSlaMinutes.abnormal;
}

/** Who is paged at each rung, without repeats (no ordering provider, or the on-call provider ordered). */
export function escalationLadder(d: Pick<Draft, 'm' | 'policy'>): string[] {
  return ladderOf(d.m, d.policy);
}

export function ladderOf(m: Model, policy: PracticePolicy): string[] {
  const ladder: string[] = [];
  for (const id of [m.result.orderingProvider?.id, policy.onCallProviderId, policy.administratorId]) {
    if (id !== undefined && id !== '' && !ladder.includes(id)) ladder.push(id);
  }
  return ladder;
}

/**
 * Who rung `level` pages: the ladder's people in order, then (repeats after the last rung) its last
 * person again.
 */
export function rungStaffId(ladder: readonly string[], level: number): string | undefined {
  return ladder[Math.min(level, ladder.length) - 1];
}

export function isAnnounceable(d: Draft): boolean {
  return d.m.result.status === 'final' || d.m.result.status === 'corrected';
}

/** Start the SLA clock for the current gate (once per gate, only for a final or corrected version). */
export function startSla(d: Draft, receivedAt: string): void {
  const gate = d.m.gate;
  if (gate.signature !== undefined || gate.slaStart !== undefined || !isAnnounceable(d) || d.m.cancelled) return;
  gate.slaStart = receivedAt;
  gate.deadlinePending = true;
  d.emit({
    type: 'computeDeadline',
    epoch: gate.epoch,
    level: 1,
    startIso: receivedAt,
    businessMinutes: slaMinutes(d, d.m.acuity),
  });
}

export function onDeadlineComputed(d: Draft, epoch: number, level: number, deadline: string): void {
  const gate = d.m.gate;
  if (epoch !== gate.epoch || level !== gate.escalationLevel + 1) return;
  gate.deadlinePending = false;
  if (gate.signature !== undefined || d.m.cancelled) return;
  if (level === 1) {
    gate.slaDeadline = deadline;
    d.audit({ action: 'hold', outcome: 'awaiting-sign-off', details: { slaDeadline: deadline, epoch } });
  }
  gate.nextEscalationAt = deadline;
}

/** `escalation-{n}` past the ladder's `rungs`: a repeat's page. */
function isRepeatStep(step: string, rungs: number): boolean {
  const match = /^escalation-(\d+)$/.exec(step);
  return match !== null && Number(match[1]) > rungs;
}

/**
 * Climb one rung if the current deadline has passed and nobody has signed. Past the last rung
 * (patch `repeatEscalation`), the rungs continue as repeats: the ladder's last person is paged again
 * every escalationRepeatMinutes business minutes until a provider signs, and the result shows as
 * overdue. Without the patch (runs recorded before it) the ladder ends at its last rung.
 */
export function escalateIfDue(d: Draft): void {
  const gate = d.m.gate;
  if (gate.signature !== undefined || d.m.cancelled || !d.isDue(gate.nextEscalationAt)) return;
  const ladder = escalationLadder(d);
  const level = gate.escalationLevel + 1;
  const staffId = rungStaffId(ladder, level);
  const dueAt = gate.nextEscalationAt as string;
  gate.nextEscalationAt = undefined;
  if (staffId === undefined) return;
  const repeat = level > ladder.length ? level - ladder.length : undefined;
  const version = gate.openedByVersion;
  const series = (p: PageRecord) => p.version === version && isRepeatStep(p.step, ladder.length - 1);
  if (repeat !== undefined && d.m.pages.some((p) => series(p) && isPageInFlight(p))) {
    // The last page is still on its way (Spruce retrying): no second one beside it; try next interval.
    scheduleRepeat(d, level, dueAt);
    return;
  }
  gate.escalationLevel = level;
  d.audit({
    action: 'escalation',
    outcome: repeat === undefined ? `level-${level}` : 'overdue-repeat',
    ref: staffId,
    details: { level, staffId, deadline: dueAt, epoch: gate.epoch, ...(repeat !== undefined ? { repeat } : {}) },
  });
  if (repeat !== undefined) forgetFinishedPages(d, (p) => series(p) && p.step !== `escalation-${ladder.length}`);
  page(d, {
    step: `escalation-${level}`,
    staffId,
    reason: level === 1 ? 'sign-off-reminder' : 'sign-off-escalation',
    urgency: d.m.acuity === 'normal' ? 'normal' : 'high',
  });
  if (level < ladder.length) {
    gate.deadlinePending = true;
    d.emit({
      type: 'computeDeadline',
      epoch: gate.epoch,
      level: level + 1,
      startIso: dueAt,
      businessMinutes: d.policy.escalationStepMinutes,
    });
  } else if (d.patches.repeatEscalation) {
    gate.overdueSince ??= dueAt;
    scheduleRepeat(d, level + 1, dueAt);
  }
}

/**
 * A run that acts on a deadline later than this (its worker was down) counts the next repeat from
 * now. Workflow tasks normally run within a second of their timer; 5 minutes is far beyond that and
 * far below the shortest sensible repeat interval.
 */
const LATE_WAKE_MS = 5 * 60_000;

/**
 * The next repeat (rung `level`), escalationRepeatMinutes business minutes after the deadline just
 * met (so repeats stay on the hour, as rungs do), or after now when the run woke late: one page
 * then, and the interval kept, rather than a burst of the pages it missed.
 */
function scheduleRepeat(d: Draft, level: number, dueAt: string): void {
  const gate = d.m.gate;
  gate.deadlinePending = true;
  const late = Date.parse(d.now) - Date.parse(dueAt) > LATE_WAKE_MS;
  d.emit({
    type: 'computeDeadline',
    epoch: gate.epoch,
    level,
    startIso: late ? d.now : dueAt,
    businessMinutes: escalationRepeatMinutes(d.policy),
  });
}

/** Sign the current gate. Returns false when it was already signed (signing twice changes nothing). */
export function sign(d: Draft, signature: Signature): boolean {
  const gate = d.m.gate;
  if (gate.signature !== undefined) return false;
  gate.signature = signature;
  gate.nextEscalationAt = undefined;
  const staff = d.policy.staff.find((s) => s.id === signature.by);
  d.audit({
    action: 'sign-off',
    actor:
      signature.via === 'source' ? { type: 'source', id: d.m.result.source } : { type: 'provider', id: signature.by },
    outcome: 'signed',
    ref: signature.by,
    details: {
      via: signature.via,
      providerId: signature.by,
      knownProvider: staff?.role === 'provider',
      escalationLevel: gate.escalationLevel,
      epoch: gate.epoch,
      withNote: signature.noteToPatient !== undefined && signature.noteToPatient !== '',
    },
  });
  if (!isAnnounceable(d)) d.audit({ action: 'hold', outcome: 'signed-awaiting-final', details: { epoch: gate.epoch } });
  return true;
}

/**
 * Why a sign-off request must be refused, or undefined when it may proceed. Runs as the update's
 * validator, so a refused request never reaches history and the caller gets the reason.
 */
export function signOffProblem(d: Pick<Draft, 'm' | 'policy'>, request: SignOffRequest): string | undefined {
  if (request.practiceId !== d.policy.practiceId) return 'this result belongs to another practice';
  const staff = d.policy.staff.find((s) => s.id === request.providerId);
  if (staff === undefined) return `providerId ${JSON.stringify(request.providerId)} is not on this practice's staff`;
  if (staff.role !== 'provider') return `${request.providerId} is ${staff.role}, and only a provider can sign a result`;
  if (d.m.cancelled) return 'this result was cancelled by the lab and cannot be signed';
  if (d.m.closed) return 'this result is closed';
  if (d.m.ready && d.m.version === d.m.versionBase)
    return 'this result has no version to sign: every version received so far was refused';
  return versionProblem(d.m, request);
}

/**
 * A sign-off is for the values the provider saw. The review app must say which version its page
 * showed (`expectedVersion`); sources (athena, an HL7 feed of reviewed results) and the API may
 * omit it. Any version from the one that opened the current gate up to the current one carries the
 * same content (re-deliveries, preliminary → final with the same values), so it may be signed; an
 * older one was superseded by different values (a correction), and a newer one does not exist yet.
 *
 * Version 0 is what a page rendered before the run took in its first message shows (versions are
 * numbered only once earlier runs are known). Its values were that first message's (signal-with-
 * start carries the same result), which is this run's first version: versionBase + 1.
 */
function versionProblem(m: Model, request: SignOffRequest): string | undefined {
  // Before the first message is taken in, versions are not numbered yet: the update handler asks
  // again once they are (and before it signs).
  if (!m.ready) return undefined;
  const requested = request.expectedVersion;
  if (requested === undefined) {
    return request.via === 'review-app'
      ? `expectedVersion is required for a sign-off from the review app (the result is at version ${m.version})`
      : undefined;
  }
  if (!Number.isInteger(requested)) return `expectedVersion must be a whole number, not ${JSON.stringify(requested)}`;
  const expected = requested === 0 ? m.versionBase + 1 : requested;
  if (expected < m.gate.openedByVersion || expected > m.version) {
    return `this result changed after the page was shown: it is now version ${m.version}, the page showed version ${expected}; review the new values before signing`;
  }
  return undefined;
}

export function annotationProblem(d: Pick<Draft, 'm' | 'policy'>, request: AnnotationRequest): string | undefined {
  if (request.practiceId !== d.policy.practiceId) return 'this result belongs to another practice';
  if (!d.policy.staff.some((s) => s.id === request.providerId)) {
    return `providerId ${JSON.stringify(request.providerId)} is not on this practice's staff`;
  }
  const text = typeof request.text === 'string' ? request.text.trim() : '';
  if (text.length === 0) return 'text must not be empty';
  if (text.length > ANNOTATION_MAX_CHARS) return `text must be at most ${ANNOTATION_MAX_CHARS} characters`;
  return undefined;
}

export function annotate(d: Draft, request: AnnotationRequest): void {
  d.m.annotations.push({ providerId: request.providerId, at: d.now, text: request.text.trim() });
  const staff = d.policy.staff.find((s) => s.id === request.providerId);
  d.audit({
    action: 'annotation',
    actor: { type: staff?.role === 'provider' ? 'provider' : 'staff', id: request.providerId },
    outcome: 'added',
    ref: request.providerId,
    details: { annotations: d.m.annotations.length },
  });
}

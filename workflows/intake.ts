import { classifyAcuity, describeAcuityReason } from '../domain/classification';
import { contentDigest } from './content-digest';
import type { LabResult } from '../domain/lab-result';
import type { ResultReceived } from './definitions';
import { dropDelivery } from './delivery';
import type { Draft } from './draft';
import { onCriticalGate } from './critical';
import { sign, startSla } from './gate';
import { isOpenCallTask, page, pageAboutCancel } from './staff';

/**
 * Taking in versions of the result. A message ID seen before is a retransmission and changes
 * nothing. A new version either carries the gate over (same clinical content and not newly
 * corrected: a re-delivery, or preliminary → final with the same values) or opens a new gate:
 * re-classified, unsigned again, with its own SLA. A cancel stops every push and closes.
 */

/**
 * The clinical content of a version: what a provider signs. Identical content means a signature
 * still stands; anything else (a value, unit, flag, range or comment changed) needs a new one.
 */
export function contentKey(result: LabResult): string {
  return JSON.stringify([
    result.panelCode ?? null,
    result.observations.map((o) => [
      o.code,
      o.value,
      o.units ?? null,
      o.flag ?? null,
      o.referenceRange ?? null,
      o.comments ?? [],
    ]),
    result.comments ?? [],
  ]);
}

function isValidInstant(iso: string): boolean {
  return typeof iso === 'string' && !Number.isNaN(Date.parse(iso));
}

export function receive(d: Draft, message: ResultReceived): void {
  const { m } = d;
  const incoming = message.result;
  if (m.seenMessageIds.includes(incoming.messageId)) return;
  if (incoming.practiceId !== d.policy.practiceId) {
    d.audit({
      action: 'routing-decision',
      outcome: 'ignored-other-practice',
      details: { messageId: incoming.messageId },
    });
    return;
  }
  m.seenMessageIds.push(incoming.messageId);
  const firstVersion = m.version === m.versionBase;
  // The first version of a run that continues an earlier one must name that run's patient too.
  const established = firstVersion ? m.priorRun?.patientId : m.result.patient.id;
  if (established !== undefined && incoming.patient.id !== established) {
    return patientMismatch(d, incoming, established, firstVersion);
  }
  const receivedAt = isValidInstant(message.receivedAt) ? message.receivedAt : d.now;
  m.version += 1;
  m.versionReceivedAt = receivedAt;
  if (m.closed) {
    // Back from closing: staff and channels may need this workflow again.
    m.closed = false;
    m.linkedPhone = undefined;
  }
  relinkPatient(d, incoming);

  if (incoming.status === 'cancelled') {
    m.result = { ...m.result, status: 'cancelled', messageId: incoming.messageId, rawStatus: incoming.rawStatus };
    cancel(d);
    return;
  }

  const key = contentKey(incoming);
  const previousStatus = m.result.status;
  const continuing = firstVersion && m.versionBase > 0;
  const repeatsPriorRun = continuing && repeatsWhatPriorRunEndedWith(d, incoming, key);
  const regate =
    firstVersion ||
    m.cancelled ||
    key !== m.contentKey ||
    (incoming.status === 'corrected' && previousStatus !== 'corrected');
  // A correction: values (or a status) that replace what an earlier version of this run, or the
  // last version of the earlier run this one continues, said. It needs a sign-off of its own.
  const correction = regate && (!firstVersion || (continuing && !repeatsPriorRun));
  m.result = incoming;
  m.contentKey = key;
  m.acuity = classifyAcuity(incoming.observations, d.policy.flagMappings, incoming.source, d.policy.valueRules);

  if (regate) openGate(d, { correction, continuing, repeatsPriorRun });
  else {
    d.audit({
      action: 'routing-decision',
      outcome: 'same-content-new-version',
      details: { status: incoming.status, previousStatus, epoch: m.gate.epoch },
    });
    startSla(d, receivedAt);
  }
  if (incoming.signedOff !== undefined && sourceSignOffApplies(d, incoming)) {
    sign(d, { by: incoming.signedOff.providerId, at: incoming.signedOff.at ?? d.now, via: 'source' });
  }
}

/**
 * The first version of a continuing run is a re-delivery (not a correction) only when it has the
 * clinical content and status the earlier run ended with, as its closing audit row recorded them.
 * Unknown (a run that closed before that row was kept), ended cancelled, other values, or newly
 * "corrected": a correction.
 */
function repeatsWhatPriorRunEndedWith(d: Draft, incoming: LabResult, key: string): boolean {
  const prior = d.m.priorRun;
  if (prior?.contentDigest === undefined || prior.status === undefined || prior.status === 'cancelled') return false;
  if (contentDigest(d.ctx.workflowId, key) !== prior.contentDigest) return false;
  return !(incoming.status === 'corrected' && prior.status !== 'corrected');
}

/**
 * A source's "reviewed" flag on a version of a correction's gate may be left over from the version
 * before (athena keeps `isreviewedbyprovider` on an amended result; a feed re-sends the flag). It
 * counts only when it carries its own time at or after the correction was reported: a sign-off the
 * source does not date (athena never says when a provider reviewed) does not apply to a correction,
 * which then needs a provider's sign-off in the review app. Outside corrections it always counts.
 */
function sourceSignOffApplies(d: Draft, result: LabResult): boolean {
  const gate = d.m.gate;
  if (gate.correction !== true || gate.signature !== undefined) return true;
  const at = result.signedOff?.at;
  const reportedAt = gate.openedReportedAt ?? result.reportedAt;
  const why =
    at === undefined || !isValidInstant(at)
      ? 'sign-off-undated'
      : reportedAt === undefined || !isValidInstant(reportedAt)
        ? 'correction-undated'
        : Date.parse(at) < Date.parse(reportedAt)
          ? 'signed-before-correction'
          : undefined;
  if (why === undefined) return true;
  d.audit({
    action: 'sign-off',
    actor: { type: 'source', id: result.source },
    outcome: 'stale-source-sign-off-ignored',
    details: { reason: why, epoch: gate.epoch },
  });
  return false;
}

/**
 * A version that names another patient than the one this result was established for is not
 * merged: the result ID collided (or the source is confused), and taking it in would route one
 * patient's values to another. The established result stays as it was; the decision is audited
 * (IDs only, every time), the administrator is paged (once per established version), and the status
 * query counts it. A retransmission of the same message is ignored like any other. The first
 * version of a run that continues an earlier one is checked against that run's patient: refused,
 * the run has taken nothing in, and it closes once the page is out (lifecycle.ts).
 */
function patientMismatch(d: Draft, incoming: LabResult, establishedPatientId: string, firstVersion: boolean): void {
  const { m } = d;
  const count = (m.patientMismatch?.count ?? 0) + 1;
  m.patientMismatch = { count, lastAt: d.now };
  d.audit({
    action: 'routing-decision',
    outcome: 'patient-mismatch',
    details: {
      messageId: incoming.messageId,
      establishedPatientId,
      receivedPatientId: incoming.patient.id,
      receivedStatus: incoming.status,
      mismatches: count,
      ...(firstVersion ? { againstEarlierRun: true } : {}),
    },
  });
  // Before this run took a version in it has no version number of its own (version 0 and a step
  // named for the run keep the page's send key apart from every run's).
  page(d, {
    step: firstVersion ? `page-patient-mismatch-${d.ctx.runId}` : 'page-patient-mismatch',
    staffId: d.policy.administratorId,
    reason: 'patient-mismatch',
    urgency: 'high',
    version: firstVersion ? 0 : m.version,
  });
}

function relinkPatient(d: Draft, result: LabResult): void {
  const phone = result.patient.mobilePhone ?? null;
  if (d.m.linkedPhone === phone) return;
  d.m.linkedPhone = phone;
  d.emit({
    type: 'linkPatient',
    link: {
      workflowId: d.ctx.workflowId,
      practiceId: d.policy.practiceId,
      patientId: result.patient.id,
      ...(phone !== null ? { phone } : {}),
    },
  });
}

function openGate(d: Draft, how: { correction: boolean; continuing: boolean; repeatsPriorRun: boolean }): void {
  const { m } = d;
  const previous = m.gate;
  // Held, still being scheduled, or in flight (e.g. retrying through an outage): none of it may
  // reach the patient now that the content it was signed for has changed.
  for (const delivery of m.deliveries) dropDelivery(d, delivery, 'superseded');
  const wasCancelled = m.cancelled || (how.continuing && m.priorRun?.status === 'cancelled');
  m.cancelled = false;
  m.settledAt = undefined;
  m.closeAt = undefined;
  m.gate = {
    epoch: previous.epoch + 1,
    openedByVersion: m.version,
    escalationLevel: 0,
    deadlinePending: false,
    routing: 'not-started',
    updated: false,
    fallback: false,
    ...(how.correction ? { correction: true } : {}),
    ...(m.result.reportedAt !== undefined ? { openedReportedAt: m.result.reportedAt } : {}),
    ...(how.repeatsPriorRun ? { repeatsPriorRun: true } : {}),
  };
  const reason = describeAcuityReason(
    m.result.observations,
    d.policy.flagMappings,
    m.result.source,
    d.policy.valueRules,
  );
  d.audit({
    action: 'routing-decision',
    outcome: `classified-${m.acuity}`,
    details: {
      epoch: m.gate.epoch,
      status: m.result.status,
      drivers: reason.drivers.map((x) => `${x.index}:${x.rule}${x.matched !== undefined ? `:${x.matched}` : ''}`),
      unrecognisedFlags: reason.unrecognised.length,
    },
  });
  if (how.correction) {
    d.audit({
      action: 'correction',
      outcome: wasCancelled ? 'reinstated' : 're-gated',
      details: {
        epoch: m.gate.epoch,
        status: m.result.status,
        patientToldVersion: m.patientToldVersion,
        previouslySigned: previous.signature !== undefined,
        ...(how.continuing ? { afterEarlierRun: true } : {}),
      },
    });
  } else if (how.repeatsPriorRun) {
    d.audit({
      action: 'routing-decision',
      outcome: 'same-content-as-earlier-run',
      details: { epoch: m.gate.epoch, status: m.result.status },
    });
  }
  if (m.result.status === 'preliminary')
    d.audit({ action: 'hold', outcome: 'awaiting-final', details: { epoch: m.gate.epoch } });
  startSla(d, m.versionReceivedAt);
  if (m.acuity === 'critical') onCriticalGate(d);
}

/**
 * The source cancelled the result: stop every push that has not gone, close. If the patient was
 * already told, or staff are calling about it, the ordering provider is paged: a person decides
 * what to say.
 */
export function cancel(d: Draft): void {
  const { m } = d;
  if (m.cancelled) return;
  m.cancelled = true;
  for (const delivery of m.deliveries) dropDelivery(d, delivery, 'result-cancelled');
  m.gate.nextEscalationAt = undefined;
  m.gate.unreadCallAt = undefined;
  const told = m.patientToldVersion !== undefined;
  const calling = m.callTasks.some(isOpenCallTask);
  d.audit({
    action: 'cancel',
    outcome: 'cancelled',
    details: { patientToldVersion: m.patientToldVersion, openCallTask: calling },
  });
  if (told || calling) pageAboutCancel(d, calling ? 'high' : 'normal');
  m.closeAt = d.now;
}

import { classifyAcuity, describeAcuityReason } from '../domain/classification';
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
  if (!firstVersion && incoming.patient.id !== m.result.patient.id) return patientMismatch(d, incoming);
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
  const regate =
    firstVersion ||
    m.cancelled ||
    key !== m.contentKey ||
    (incoming.status === 'corrected' && previousStatus !== 'corrected');
  m.result = incoming;
  m.contentKey = key;
  m.acuity = classifyAcuity(incoming.observations, d.policy.flagMappings, incoming.source);

  if (regate) openGate(d, firstVersion);
  else {
    d.audit({
      action: 'routing-decision',
      outcome: 'same-content-new-version',
      details: { status: incoming.status, previousStatus, epoch: m.gate.epoch },
    });
    startSla(d, receivedAt);
  }
  if (incoming.signedOff !== undefined && sourceSignOffApplies(d, incoming, regate && !firstVersion)) {
    sign(d, { by: incoming.signedOff.providerId, at: incoming.signedOff.at ?? d.now, via: 'source' });
  }
}

/**
 * A source's "reviewed" flag on a correction may be left over from the version before. It counts
 * for a correction only when it is dated at or after the corrected version was reported.
 */
function sourceSignOffApplies(d: Draft, result: LabResult, isCorrection: boolean): boolean {
  if (!isCorrection) return true;
  const at = result.signedOff?.at;
  if (at === undefined || result.reportedAt === undefined) return false;
  const ok = Date.parse(at) >= Date.parse(result.reportedAt);
  if (!ok)
    d.audit({
      action: 'sign-off',
      actor: { type: 'source', id: result.source },
      outcome: 'stale-source-sign-off-ignored',
    });
  return ok;
}

/**
 * A version that names another patient than the one this result was established for is not
 * merged: the result ID collided (or the source is confused), and taking it in would route one
 * patient's values to another. The established result stays as it was; the decision is audited
 * (IDs only, every time), the administrator is paged (once per established version), and the status
 * query counts it. A retransmission of the same message is ignored like any other.
 */
function patientMismatch(d: Draft, incoming: LabResult): void {
  const { m } = d;
  const count = (m.patientMismatch?.count ?? 0) + 1;
  m.patientMismatch = { count, lastAt: d.now };
  d.audit({
    action: 'routing-decision',
    outcome: 'patient-mismatch',
    details: {
      messageId: incoming.messageId,
      establishedPatientId: m.result.patient.id,
      receivedPatientId: incoming.patient.id,
      receivedStatus: incoming.status,
      mismatches: count,
    },
  });
  page(d, {
    step: 'page-patient-mismatch',
    staffId: d.policy.administratorId,
    reason: 'patient-mismatch',
    urgency: 'high',
    version: m.version,
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

function openGate(d: Draft, firstVersion: boolean): void {
  const { m } = d;
  const previous = m.gate;
  // Held, still being scheduled, or in flight (e.g. retrying through an outage): none of it may
  // reach the patient now that the content it was signed for has changed.
  for (const delivery of m.deliveries) dropDelivery(d, delivery, 'superseded');
  const wasCancelled = m.cancelled;
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
  };
  const reason = describeAcuityReason(m.result.observations, d.policy.flagMappings, m.result.source);
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
  if (!firstVersion) {
    d.audit({
      action: 'correction',
      outcome: wasCancelled ? 'reinstated' : 're-gated',
      details: {
        epoch: m.gate.epoch,
        status: m.result.status,
        patientToldVersion: m.patientToldVersion,
        previouslySigned: previous.signature !== undefined,
      },
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

import { classifyAcuity } from '../domain/classification';
import type { ConsentChangedEvent, LabResultWorkflowInput } from './definitions';
import type { Command } from './commands';
import { escalateOverdueCalls, onCallCompleted, onOnCallResolved, pageAtFirstSight } from './critical';
import {
  dropDelivery,
  onDelivered,
  onDeliveryFailed,
  onSendWindowComputed,
  onSendWindowUnavailable,
  releaseDue,
} from './delivery';
import { applyBufferedStatuses, onDeliveryStatus, unreadCallIfDue } from './delivery-status';
import { Draft, type DecisionContext } from './draft';
import type { WorkflowEvent } from './events';
import { annotate, annotationProblem, escalateIfDue, onDeadlineComputed, sign, signOffProblem } from './gate';
import { receive } from './intake';
import { settle } from './lifecycle';
import type { Model } from './model';
import { CURRENT_BEHAVIOUR, type PatchFlags } from './patches';
import { onContactGathered, routeIfReady, textAfterConsent } from './routing';
import {
  onCallTaskCreated,
  onCallTaskFailed,
  onPaged,
  onPageFailed,
  onStaffSmsPaged,
  onStaffSmsPageFailed,
  smsPagesIfDue,
} from './staff';

/**
 * The decision core: a pure function of (model, event) → (model, commands). No I/O, no clock (the
 * event carries the time), no randomness; the workflow shell runs the commands and feeds their
 * outcomes back as events. Property tests drive it directly with thousands of interleavings.
 */

export interface Decision {
  model: Model;
  commands: Command[];
}

export function initialModel(input: LabResultWorkflowInput): Model {
  return {
    ready: false,
    inbox: [],
    versionBase: 0,
    result: input.result,
    firstReceivedAt: input.receivedAt,
    versionReceivedAt: input.receivedAt,
    version: 0,
    contentKey: '',
    acuity: classifyAcuity(
      input.result.observations,
      input.policy.flagMappings,
      input.result.source,
      input.policy.valueRules,
    ),
    seenMessageIds: [],
    cancelled: false,
    gate: {
      epoch: 0,
      openedByVersion: 0,
      escalationLevel: 0,
      deadlinePending: false,
      routing: 'not-started',
      updated: false,
      fallback: false,
    },
    annotations: [],
    deliveries: [],
    pages: [],
    callTasks: [],
    statusBuffer: [],
    invitationSent: false,
    actions: [],
    auditSeq: 0,
    closed: false,
  };
}

/** The model is plain JSON, so a JSON round trip is a faithful deep copy. */
function cloneModel(model: Model): Model {
  return JSON.parse(JSON.stringify(model)) as Model;
}

/**
 * `patches`: the patched behaviours this run uses (the shell evaluates `patched()`; patches.ts). Without
 * it, the newest behaviour.
 */
export function decide(
  model: Model,
  event: WorkflowEvent,
  ctx: DecisionContext,
  patches: PatchFlags = CURRENT_BEHAVIOUR,
): Decision {
  const d = new Draft(cloneModel(model), ctx, event.at, patches);
  apply(d, event);
  if (d.m.ready) {
    escalateIfDue(d);
    releaseDue(d);
    escalateOverdueCalls(d);
    unreadCallIfDue(d);
    routeIfReady(d);
  }
  // Also before the run is ready: a first-sight critical page may need its SMS path.
  smsPagesIfDue(d);
  settle(d);
  return { model: d.m, commands: d.commands };
}

function apply(d: Draft, event: WorkflowEvent): void {
  const { m } = d;
  switch (event.type) {
    case 'started':
      m.inbox.push({ at: event.at, message: { result: event.input.result, receivedAt: event.input.receivedAt } });
      d.emit({ type: 'findPriorRuns', workflowId: d.ctx.workflowId });
      pageAtFirstSight(d, event.input);
      return;
    case 'priorRunsFound': {
      if (m.ready) return;
      m.ready = true;
      m.versionBase = Math.max(0, Math.floor(event.summary.lastVersion));
      m.version = m.versionBase;
      const told = event.summary.patientNotifiedVersion;
      if (told !== undefined) {
        m.patientToldVersion = told;
        m.priorRunToldVersion = told;
      }
      if (m.versionBase > 0) {
        const { lastContentDigest, lastStatus, patientId } = event.summary;
        m.priorRun = {
          ...(lastContentDigest !== undefined ? { contentDigest: lastContentDigest } : {}),
          ...(lastStatus !== undefined ? { status: lastStatus } : {}),
          ...(patientId !== undefined && patientId !== '' ? { patientId } : {}),
        };
        d.audit({
          action: 'routing-decision',
          outcome: 'continues-earlier-run',
          details: {
            priorLastVersion: m.versionBase,
            priorPatientNotifiedVersion: told,
            priorStatus: lastStatus,
            priorPatientId: m.priorRun.patientId,
            priorContentKnown: lastContentDigest !== undefined,
          },
        });
      }
      const inbox = m.inbox;
      m.inbox = [];
      for (const queued of inbox) receive(d, queued.message);
      return;
    }
    case 'received':
      if (!m.ready) m.inbox.push({ at: event.at, message: event.message });
      else receive(d, event.message);
      return;
    case 'signOff':
      if (!m.ready || signOffProblem(d, event.request) !== undefined) return;
      sign(d, {
        by: event.request.providerId,
        at: d.now,
        via: event.request.via,
        ...(event.request.noteToPatient !== undefined ? { noteToPatient: event.request.noteToPatient } : {}),
      });
      return;
    case 'annotate':
      if (annotationProblem(d, event.request) === undefined) annotate(d, event.request);
      return;
    case 'deliveryStatus':
      onDeliveryStatus(d, event.status);
      return;
    case 'patientReply':
      d.audit({
        action: 'patient-reply',
        actor: { type: 'patient', id: m.result.patient.id || 'patient' },
        channel: event.reply.channel,
        outcome: event.reply.kind,
      });
      if (event.reply.kind === 'stop') consentChanged(d, false, 'keyword');
      if (event.reply.kind === 'start') consentChanged(d, true, 'keyword');
      return;
    case 'consentChanged':
      consentChanged(d, event.change.smsConsent, event.change.source);
      return;
    case 'callCompleted':
      onCallCompleted(d, event.call);
      return;
    case 'tick':
      return;
    case 'deadlineComputed':
      onDeadlineComputed(d, event.epoch, event.level, event.deadline);
      return;
    case 'contactGathered':
      onContactGathered(d, event.epoch, event.facts);
      return;
    case 'sendWindowComputed':
      onSendWindowComputed(d, event.key, event.sendAt, event.windowEndsAt);
      return;
    case 'sendWindowUnavailable':
      onSendWindowUnavailable(d, event.key, event.errorType);
      return;
    case 'delivered':
      onDelivered(d, event.key, event.providerMessageId, event.alreadySent);
      applyBufferedStatuses(d, event.key);
      return;
    case 'deliveryFailed':
      onDeliveryFailed(d, event.key, event.failure, event.errorType, event.outageSpentMs);
      return;
    case 'paged':
      onPaged(d, event.step, event.version, event.pageRef, event.pagedAt);
      return;
    case 'pageFailed':
      onPageFailed(d, event.step, event.version, event.errorType);
      return;
    case 'staffSmsPaged':
      onStaffSmsPaged(d, event.step, event.version, event.pageRef, event.pagedAt);
      return;
    case 'staffSmsPageFailed':
      onStaffSmsPageFailed(d, event.step, event.version, event.errorType);
      return;
    case 'onCallResolved':
      onOnCallResolved(d, event.epoch, {
        staffId: event.staffId,
        ...(event.shift !== undefined ? { shift: event.shift } : {}),
        ...(event.failed === true ? { failed: true } : {}),
      });
      return;
    case 'callTaskCreated':
      onCallTaskCreated(d, event.step, event.version, event.taskId);
      return;
    case 'callTaskFailed':
      onCallTaskFailed(d, event.step, event.version, event.errorType);
      return;
  }
}

/** SMS consent changed (STOP/START, staff, athena, the invitation's YES). A revocation wins at once. */
function consentChanged(d: Draft, consent: boolean, source: ConsentChangedEvent['source']): void {
  const { m } = d;
  const changed = m.smsConsent !== consent;
  m.smsConsent = consent;
  m.consentSignalAt = d.now;
  if (changed) {
    d.audit({
      action: 'consent-change',
      actor:
        source === 'staff'
          ? { type: 'staff', id: 'review-app' }
          : source === 'athena'
            ? { type: 'source', id: 'athena' }
            : { type: 'patient', id: m.result.patient.id || 'patient' },
      channel: 'sms',
      outcome: consent ? 'granted' : 'revoked',
      details: { source },
    });
  }
  if (!m.ready) return;
  if (!consent) {
    for (const delivery of m.deliveries) if (delivery.channel === 'sms') dropDelivery(d, delivery, 'consent-revoked');
    return;
  }
  textAfterConsent(d);
}

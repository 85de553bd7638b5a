import type { Draft } from './draft';
import {
  currentDeliveries,
  fallBackIfPortalWasTheOnlyChannel,
  isResultSms,
  noSecureThreadRoute,
  planPortal,
  planSms,
  planSpruce,
} from './delivery';
import { isAnnounceable } from './gate';
import type { ContactFacts } from './model';
import { page } from './staff';

/**
 * Who hears what once a final result is signed (the routing table):
 *
 * | acuity   | patient channels                                                                         | staff                            |
 * | -------- | ---------------------------------------------------------------------------------------- | -------------------------------- |
 * | normal   | portal note; generic SMS if consented (in the messaging window); else a consent invitation if the practice enables it, once per practice+patient+phone ever (the consent store records and claims it) | —                                |
 * | abnormal | portal note; Spruce secure thread (summary, provider note, PDF, scheduling link); without Spruce a generic "secure message" SMS where consented; a call task if unread in time (at once if nothing reaches the patient) | ordering provider paged          |
 * | critical | none automated, ever                                                                     | paged and called at first sight (critical.ts) |
 *
 * A corrected result the patient was already told about uses the "updated result" wording. Only
 * texts wait for the patient's messaging window (08:00–21:00 by default, every candidate zone);
 * the portal note and the Spruce thread are secure channels whose own notification settings apply.
 */

/** Open the routing for the current gate once it is signed, final and not cancelled. */
export function routeIfReady(d: Draft): void {
  const { m } = d;
  const gate = m.gate;
  if (
    !m.ready ||
    m.cancelled ||
    gate.epoch === 0 ||
    gate.signature === undefined ||
    gate.routing !== 'not-started' ||
    !isAnnounceable(d)
  ) {
    return;
  }
  d.audit({
    action: 'release',
    outcome: 'signed-and-final',
    ref: gate.signature.by,
    details: { epoch: gate.epoch, acuity: m.acuity, signedBy: gate.signature.by },
  });

  if (repeatsToldPriorRun(d)) {
    // An earlier run told the patient, and this is not a correction: a re-delivery, nothing to say.
    gate.routing = 'planned';
    d.audit({
      action: 'routing-decision',
      outcome: 'already-notified-earlier-run',
      details: { priorVersion: m.priorRunToldVersion },
    });
    return;
  }
  if (m.acuity === 'critical') {
    gate.routing = 'planned';
    d.audit({ action: 'routing-decision', outcome: 'critical-staff-call-only', details: { epoch: gate.epoch } });
    return;
  }

  const updated = m.patientToldVersion !== undefined;
  gate.updated = updated;
  planPortal(d, updated);
  if (m.acuity === 'abnormal') {
    const orderer = m.result.orderingProvider?.id;
    page(d, {
      step: 'page-abnormal-ordering',
      staffId: orderer !== undefined && orderer !== '' ? orderer : d.policy.onCallProviderId,
      reason: 'abnormal-result',
      urgency: 'normal',
    });
  }
  const hasPhone = m.result.patient.mobilePhone !== undefined;
  const needs = { consent: hasPhone, spruce: m.acuity === 'abnormal' || hasPhone };
  gate.routing = 'gathering';
  gate.gatherRequestedAt = d.now;
  d.emit({
    type: 'gatherContact',
    epoch: gate.epoch,
    practiceId: d.policy.practiceId,
    practiceTimeZone: d.policy.calendar.timeZone,
    patient: m.result.patient,
    needs,
  });
}

/**
 * The current gate re-delivers what an earlier run ended with (same content and status, intake.ts)
 * and that run told the patient: there is nothing new to say. A correction after the earlier run
 * (new values sent as "final" included) is news, and gets the "updated result" notice.
 */
function repeatsToldPriorRun(d: Draft): boolean {
  return d.m.priorRunToldVersion !== undefined && d.m.gate.repeatsPriorRun === true;
}

/**
 * The patient said no in this run (STOP, a revocation signal). "No consent on record" is not that:
 * it is what the invitation is for (and the SMS activity refuses a number with a revocation on record).
 */
export function optedOut(d: Draft): boolean {
  return d.m.consentSignalAt !== undefined && d.m.smsConsent === false;
}

/** The lookups are back: plan the patient channels. */
export function onContactGathered(d: Draft, epoch: number, facts: ContactFacts): void {
  const { m } = d;
  const gate = m.gate;
  if (epoch !== gate.epoch || gate.routing !== 'gathering') return;
  gate.routing = 'planned';
  gate.contact = facts;
  // A consent signal that arrived after the lookup was asked for is newer than its answer.
  const signalIsNewer =
    m.consentSignalAt !== undefined &&
    gate.gatherRequestedAt !== undefined &&
    m.consentSignalAt >= gate.gatherRequestedAt;
  if (!signalIsNewer) m.smsConsent = facts.smsConsent;
  if (m.cancelled) return;
  planChannels(d, facts);
  // A portal note that failed before the channels were known may have been the only channel.
  fallBackIfPortalWasTheOnlyChannel(d);
}

function planChannels(d: Draft, facts: ContactFacts): void {
  const { m } = d;
  const gate = m.gate;
  const updated = gate.updated;
  const phone = m.result.patient.mobilePhone;
  const canText = phone !== undefined && m.smsConsent === true;
  if (m.acuity === 'normal') {
    let outcome = 'portal-only';
    if (canText) {
      planSms(d, updated ? 'updated-result' : 'results-ready');
      outcome = 'sms-and-portal';
    } else if (phone !== undefined && !updated && d.policy.smsConsentInvitation && !m.invitationSent && !optedOut(d)) {
      // One invitation per practice+patient+phone, ever: the consent store says whether it went.
      if (facts.invitationSent === true) outcome = 'portal-only-already-invited';
      else {
        planSms(d, 'consent-invitation');
        outcome = 'portal-and-consent-invitation';
      }
    }
    d.audit({
      action: 'routing-decision',
      outcome,
      details: { acuity: m.acuity, smsConsent: m.smsConsent === true, updated },
    });
    return;
  }
  if (facts.spruceSecure) {
    planSpruce(d, updated);
    d.audit({ action: 'routing-decision', outcome: 'spruce-and-portal', details: { acuity: m.acuity, updated } });
    return;
  }
  d.audit({
    action: 'routing-decision',
    outcome: canText ? 'no-spruce-sms-prompt-and-portal' : 'no-spruce-portal',
    details: { acuity: m.acuity, smsConsent: m.smsConsent === true, updated },
  });
  noSecureThreadRoute(d);
}

/**
 * Consent granted after routing decided on portal-only: the text the patient just agreed to can
 * still go (once per gate; a gate that already texted or has a text under way gets nothing more).
 */
export function textAfterConsent(d: Draft): void {
  const { m } = d;
  const gate = m.gate;
  if (m.cancelled || gate.routing !== 'planned' || gate.contact === undefined || m.acuity === 'critical') return;
  if (m.result.patient.mobilePhone === undefined || m.smsConsent !== true) return;
  if (repeatsToldPriorRun(d)) return;
  if (currentDeliveries(d).some((x) => isResultSms(x) && x.failure !== 'consent-missing' && x.failure !== 'cancelled'))
    return;
  if (m.acuity === 'abnormal' && gate.contact.spruceSecure) return;
  const template =
    m.acuity === 'abnormal' ? 'secure-message-waiting' : gate.updated ? 'updated-result' : 'results-ready';
  d.audit({ action: 'routing-decision', outcome: 'sms-after-consent', details: { template } });
  planSms(d, template);
}

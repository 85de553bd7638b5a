import { guardSmsBody } from '../domain/phi-guard';
import { genericSms, renderSms, type SmsTemplateId } from '../domain/sms-templates';
import type { Draft } from './draft';
import type { Delivery, DeliveryFailure } from './model';
import { createCallTask, page, pageAboutCancel } from './staff';

/**
 * Patient-facing sends and what happens when they fail. An SMS waits for the patient's messaging
 * window (quiet hours) and is checked by the PHI guard right before it goes. Every send has an
 * outage window (policy.channelOutageFallbackMinutes): a channel still failing at its end, or a
 * permanent refusal, falls back to portal-only and pages the practice administrator, so a result is
 * never dropped. Delivery reports (and their buffer) are in delivery-status.ts.
 */

/** The SMS steps that tell the patient about the result (the invitation does not). */
const RESULT_TEMPLATES: readonly SmsTemplateId[] = ['results-ready', 'updated-result', 'secure-message-waiting'];

export function outageWindowMs(d: Draft): number {
  return d.policy.channelOutageFallbackMinutes * 60_000;
}

export function deliveryKey(version: number, step: string): string {
  return `${version}:${step}`;
}

export function findDelivery(d: Draft, key: string): Delivery | undefined {
  return d.m.deliveries.find((x) => x.key === key);
}

/** Sends of the current gate (epoch). */
export function currentDeliveries(d: Draft): Delivery[] {
  return d.m.deliveries.filter((x) => x.epoch === d.m.gate.epoch);
}

export function isResultSms(delivery: Delivery): boolean {
  return delivery.channel === 'sms' && delivery.template !== undefined && RESULT_TEMPLATES.includes(delivery.template);
}

function addDelivery(
  d: Draft,
  fields: Pick<Delivery, 'step' | 'channel' | 'updated'> & { template?: SmsTemplateId },
): Delivery | undefined {
  const key = deliveryKey(d.m.version, fields.step);
  const existing = findDelivery(d, key);
  if (existing !== undefined) {
    // Only a send that never reached the provider may be planned again (consent granted after a
    // refusal, a hold cancelled by STOP then START); anything else would be a second message.
    if (existing.state !== 'cancelled' && existing.failure !== 'consent-missing') return undefined;
    d.m.deliveries = d.m.deliveries.filter((x) => x !== existing);
  }
  const delivery: Delivery = {
    key,
    epoch: d.m.gate.epoch,
    version: d.m.version,
    state: 'scheduling',
    outageSpentMs: 0,
    ...fields,
  };
  d.m.deliveries.push(delivery);
  return delivery;
}

/** Plan an SMS: first find when the patient's window allows it. */
export function planSms(d: Draft, template: SmsTemplateId): void {
  const delivery = addDelivery(d, {
    step: `sms-${template}`,
    channel: 'sms',
    template,
    updated: template === 'updated-result',
  });
  if (delivery === undefined) return;
  if (template === 'consent-invitation') d.m.invitationSent = true;
  d.emit({
    type: 'computeSendWindow',
    key: delivery.key,
    atIso: d.now,
    zones: d.m.gate.contact?.zones ?? [d.policy.calendar.timeZone],
  });
}

export function planSpruce(d: Draft, updated: boolean, step = 'spruce-result'): void {
  const delivery = addDelivery(d, { step, channel: 'spruce', updated });
  if (delivery !== undefined) send(d, delivery);
}

export function planPortal(d: Draft, updated: boolean): void {
  const delivery = addDelivery(d, { step: 'portal-note', channel: 'portal', updated });
  if (delivery !== undefined) send(d, delivery);
}

export function onSendWindowComputed(d: Draft, key: string, sendAt: string, windowEndsAt: string): void {
  const delivery = findDelivery(d, key);
  if (delivery?.state !== 'scheduling') return;
  if (!stillWanted(d, delivery)) return dropDelivery(d, delivery, 'no-longer-wanted');
  delivery.windowEndsAt = windowEndsAt;
  if (Date.parse(sendAt) <= Date.parse(d.now)) return send(d, delivery);
  delivery.state = 'held';
  delivery.dueAt = sendAt;
  d.audit({
    action: 'hold',
    channel: 'sms',
    template: delivery.template,
    outcome: 'held-quiet-hours',
    details: { step: delivery.step, dueAt: sendAt },
  });
}

export function onSendWindowUnavailable(d: Draft, key: string, errorType: string): void {
  const delivery = findDelivery(d, key);
  if (delivery?.state !== 'scheduling') return;
  fail(d, delivery, 'no-send-window', errorType);
}

/** Held SMS whose window has opened go now, if they are still wanted. */
export function releaseDue(d: Draft): void {
  for (const delivery of d.m.deliveries) {
    if (delivery.state !== 'held' || !d.isDue(delivery.dueAt)) continue;
    if (!stillWanted(d, delivery)) {
      dropDelivery(d, delivery, 'no-longer-wanted');
      continue;
    }
    d.audit({
      action: 'release',
      channel: 'sms',
      template: delivery.template,
      outcome: 'quiet-hours-over',
      details: { step: delivery.step },
    });
    send(d, delivery);
  }
}

/**
 * A planned or held send is still wanted if its gate is the current one, the result was not
 * cancelled and, for SMS, consent was not revoked meanwhile (the invitation needs no consent but
 * must not go to a number that said STOP).
 */
export function stillWanted(d: Draft, delivery: Delivery): boolean {
  if (d.m.cancelled || delivery.epoch !== d.m.gate.epoch || d.m.gate.signature === undefined) return false;
  if (delivery.channel === 'sms') {
    if (delivery.template === 'consent-invitation')
      return !(d.m.consentSignalAt !== undefined && d.m.smsConsent === false);
    return d.m.smsConsent === true;
  }
  return true;
}

/**
 * Cancel a send that has not gone out: held or still being scheduled, or in flight (its activity
 * retrying through an outage, or mid-attempt), whose activity is then cancelled. An in-flight send
 * waits in `cancelling` for the activity's answer: an attempt that already reached the provider may
 * have gone out, and then the patient was told (onDelivered).
 */
export function dropDelivery(d: Draft, delivery: Delivery, why: string): void {
  if (delivery.state === 'sending') {
    delivery.state = 'cancelling';
    d.audit({
      action: 'hold',
      channel: delivery.channel,
      template: delivery.template,
      outcome: `in-flight-send-cancelled-${why}`,
      details: { step: delivery.step, outageSpentMs: delivery.outageSpentMs },
    });
    d.emit({ type: 'cancelSend', key: delivery.key });
    return;
  }
  if (delivery.state !== 'scheduling' && delivery.state !== 'held') return;
  delivery.state = 'cancelled';
  delivery.failure = 'cancelled';
  d.audit({
    action: 'hold',
    channel: delivery.channel,
    template: delivery.template,
    outcome: `send-cancelled-${why}`,
    details: { step: delivery.step },
  });
}

function send(d: Draft, delivery: Delivery): void {
  const budget = Math.max(0, outageWindowMs(d) - delivery.outageSpentMs);
  const base = { workflowId: d.ctx.workflowId, resultVersion: delivery.version, step: delivery.step };
  const patient = d.m.result.patient;
  if (delivery.channel === 'sms') {
    const template = delivery.template ?? 'results-ready';
    const phone = patient.mobilePhone;
    if (phone === undefined) return fail(d, delivery, 'permanent', 'NoPhoneNumber');
    const rendered = renderSms(template, { firstName: patient.firstName, practiceName: d.policy.practiceName });
    const verdict = guardSmsBody(rendered.body, d.m.result, genericSms(template).body);
    if (verdict.outcome !== 'clean') {
      d.audit({
        action: 'phi-rewrite',
        channel: 'sms',
        template,
        variant: verdict.outcome === 'rewritten' ? 'generic' : rendered.variant,
        outcome: verdict.outcome,
        details: {
          step: delivery.step,
          findings: verdict.findings.map((f) => (f.observation === undefined ? f.kind : `${f.kind}@${f.observation}`)),
        },
      });
      // The detail a body tried to carry belongs in the secure channel, when the patient has one.
      if (d.m.gate.contact?.spruceSecure === true && d.m.acuity !== 'critical') planSpruce(d, delivery.updated);
      if (verdict.outcome === 'blocked') return fail(d, delivery, 'phi-blocked', 'PhiGuardBlockedError');
    }
    delivery.state = 'sending';
    d.emit({
      type: 'sendSms',
      key: delivery.key,
      request: {
        ...base,
        practiceId: d.policy.practiceId,
        patientId: patient.id,
        to: phone,
        body: verdict.body,
        template,
        variant: verdict.outcome === 'clean' ? rendered.variant : 'generic',
        requiresConsent: template !== 'consent-invitation',
      },
      ...(delivery.windowEndsAt !== undefined ? { notAfter: delivery.windowEndsAt } : {}),
      outageBudgetMs: budget,
    });
    return;
  }
  delivery.state = 'sending';
  const note = d.m.gate.signature?.noteToPatient;
  if (delivery.channel === 'spruce') {
    d.emit({
      type: 'sendSpruce',
      key: delivery.key,
      request: {
        ...base,
        practiceId: d.policy.practiceId,
        practiceName: d.policy.practiceName,
        result: d.m.result,
        ...(note !== undefined && note !== '' ? { providerNote: note } : {}),
        schedulingUrl: d.policy.schedulingUrl,
        updated: delivery.updated,
      },
      outageBudgetMs: budget,
    });
    return;
  }
  d.emit({
    type: 'postPortal',
    key: delivery.key,
    request: {
      ...base,
      practiceId: d.policy.practiceId,
      patientId: patient.id,
      source: d.m.result.source,
      resultId: d.m.result.resultId,
      note: portalNoteText(d, delivery.updated, note),
    },
    outageBudgetMs: budget,
  });
}

/** The portal note: generic wording plus the provider's note (the portal is a secure channel). */
export function portalNoteText(d: Draft, updated: boolean, providerNote: string | undefined): string {
  const lead = updated
    ? `An updated lab result from ${d.policy.practiceName} has been reviewed by your provider.`
    : `Your lab results from ${d.policy.practiceName} have been reviewed by your provider.`;
  return providerNote !== undefined && providerNote.trim() !== '' ? `${lead}\n\n${providerNote.trim()}` : lead;
}

export function onDelivered(d: Draft, key: string, providerMessageId: string, alreadySent: boolean): void {
  const delivery = findDelivery(d, key);
  if (delivery === undefined || (delivery.state !== 'sending' && delivery.state !== 'cancelling')) return;
  if (delivery.state === 'cancelling') {
    // The attempt under way when the send was cancelled reached the provider: it went out.
    d.audit({
      action: 'send',
      channel: delivery.channel,
      template: delivery.template,
      outcome: 'sent-before-cancel-took-effect',
      ref: providerMessageId,
      details: { step: delivery.step, providerMessageId },
    });
  }
  delivery.state = 'accepted';
  delivery.providerMessageId = providerMessageId;
  delivery.acceptedAt = d.now;
  d.m.actions.push({
    at: d.now,
    kind: 'send',
    channel: delivery.channel,
    outcome: alreadySent ? 'already-sent' : 'accepted',
    ref: providerMessageId,
  });
  if (delivery.template !== 'consent-invitation') {
    d.m.patientToldVersion = Math.max(d.m.patientToldVersion ?? 0, delivery.version);
    // It was already on its way when the lab cancelled: a person must follow up.
    if (d.m.cancelled) pageAboutCancel(d, 'normal');
  }
  if (delivery.channel === 'spruce' && delivery.epoch === d.m.gate.epoch && d.m.acuity === 'abnormal') {
    d.m.gate.unreadCallAt = d.plusMinutes(d.policy.abnormalUnreadCallMinutes);
  }
}

export function onDeliveryFailed(
  d: Draft,
  key: string,
  failure: DeliveryFailure | 'window-closed',
  errorType: string | undefined,
  outageSpentMs: number,
): void {
  const delivery = findDelivery(d, key);
  if (delivery?.state === 'cancelling') {
    // Cancelled in flight and it did not go out: the drop (audited when it was asked for) is final.
    delivery.state = 'cancelled';
    delivery.failure = 'cancelled';
    delivery.outageSpentMs += outageSpentMs;
    return;
  }
  if (delivery?.state !== 'sending') return;
  if (failure === 'cancelled') {
    // The core never cancels a send without moving it to `cancelling`; keep the record straight anyway.
    delivery.state = 'cancelled';
    delivery.failure = 'cancelled';
    return;
  }
  delivery.outageSpentMs += outageSpentMs;
  if (failure === 'window-closed') {
    if (delivery.outageSpentMs < outageWindowMs(d) && stillWanted(d, delivery)) {
      // The patient's window closed while the channel was down: wait for the next window, then use
      // what is left of the outage window.
      delivery.state = 'scheduling';
      d.audit({
        action: 'hold',
        channel: 'sms',
        template: delivery.template,
        outcome: 'retry-after-quiet-hours',
        details: { step: delivery.step, outageSpentMs: delivery.outageSpentMs },
      });
      // Look from the end of the window that just closed, not from "now", which may still be inside it by
      // a few seconds and would only start another attempt that the closing window cuts off at once.
      const from =
        delivery.windowEndsAt !== undefined && Date.parse(delivery.windowEndsAt) > Date.parse(d.now)
          ? delivery.windowEndsAt
          : d.now;
      delivery.windowEndsAt = undefined;
      d.emit({
        type: 'computeSendWindow',
        key,
        atIso: from,
        zones: d.m.gate.contact?.zones ?? [d.policy.calendar.timeZone],
      });
      return;
    }
    failure = 'outage';
  }
  fail(d, delivery, failure, errorType);
}

/**
 * A send failed for good. Consent problems end quietly in portal-only (the patient chose that); a
 * missing Spruce account switches to the no-account route; everything else is a channel failure.
 */
function fail(d: Draft, delivery: Delivery, failure: DeliveryFailure, errorType: string | undefined): void {
  delivery.state = 'failed';
  delivery.failure = failure;
  if (errorType !== undefined) delivery.errorCode = errorType;
  if (failure === 'consent-missing') {
    d.m.smsConsent = false;
    d.audit({
      action: 'fallback',
      channel: 'sms',
      template: delivery.template,
      outcome: 'portal-only-no-consent',
      details: { step: delivery.step },
    });
    // Portal-only is only a fallback if the portal note was published.
    if (d.m.gate.routing === 'planned') fallBackIfPortalWasTheOnlyChannel(d);
    return;
  }
  if (failure === 'opted-out') return optedOutAtCarrier(d, delivery, errorType);
  if (failure === 'already-invited') {
    d.audit({
      action: 'routing-decision',
      channel: 'sms',
      template: delivery.template,
      outcome: 'consent-invitation-already-sent',
      details: { step: delivery.step },
    });
    return;
  }
  if (failure === 'not-published') {
    d.audit({
      action: 'fallback',
      channel: 'portal',
      outcome: 'portal-note-not-published',
      details: { step: delivery.step, errorType: errorType ?? null },
    });
    // Until the channels are planned we cannot tell whether the portal was the only one: routing
    // checks again once it has planned (fallBackIfPortalWasTheOnlyChannel). Another channel of this
    // version still tells the patient (its own failure falls back later, knowing the portal is not
    // there); otherwise nothing reaches the patient: fall back now.
    if (d.m.gate.routing !== 'planned' || otherChannelPending(d, delivery)) return;
  }
  if (failure === 'no-account') {
    // A send of a superseded version: its route is over; the current gate routes itself.
    if (delivery.epoch !== d.m.gate.epoch || d.m.cancelled) {
      d.audit({
        action: 'fallback',
        channel: delivery.channel,
        outcome: 'stale-no-account',
        details: { step: delivery.step },
      });
      return;
    }
    if (d.m.gate.contact !== undefined) d.m.gate.contact.spruceSecure = false;
    d.audit({
      action: 'routing-decision',
      channel: 'spruce',
      outcome: 'no-spruce-account',
      details: { step: delivery.step },
    });
    noSecureThreadRoute(d);
    return;
  }
  channelFallback(d, delivery, failure, errorType);
}

/**
 * The number opted out at the carrier (Twilio 21610, on the create or in a delivery report): the
 * patient said STOP, so this is a consent revocation for this result, not a channel failure. The
 * portal note stands, other texts are dropped, no invitation follows, and nobody is paged. (The SMS
 * activity also records the revocation and signals the patient's open workflows.)
 */
export function optedOutAtCarrier(d: Draft, delivery: Delivery, errorType: string | undefined): void {
  const { m } = d;
  m.smsConsent = false;
  m.consentSignalAt = d.now;
  d.audit({
    action: 'fallback',
    channel: 'sms',
    template: delivery.template,
    outcome: 'portal-only-opted-out',
    details: { step: delivery.step, reason: 'consent', errorType },
  });
  for (const other of m.deliveries) if (other.channel === 'sms') dropDelivery(d, other, 'consent-revoked');
  if (m.gate.routing === 'planned' && delivery.epoch === m.gate.epoch && !m.cancelled)
    fallBackIfPortalWasTheOnlyChannel(d);
}

/** A patient-facing send of the same version, other than `delivery`, that has not failed. */
function otherChannelPending(d: Draft, delivery: Delivery): boolean {
  return d.m.deliveries.some(
    (x) =>
      x !== delivery &&
      x.version === delivery.version &&
      x.channel !== 'portal' &&
      x.template !== 'consent-invitation' &&
      x.state !== 'failed' &&
      x.state !== 'cancelled',
  );
}

/**
 * Called once the channels of the current gate are planned: a portal note of this gate that was
 * not published while no other channel was planned leaves the patient untold: fall back.
 */
export function fallBackIfPortalWasTheOnlyChannel(d: Draft): void {
  const portal = currentDeliveries(d).find(
    (x) => x.channel === 'portal' && x.state === 'failed' && x.failure === 'not-published',
  );
  if (portal === undefined || otherChannelPending(d, portal)) return;
  channelFallback(d, portal, 'not-published', undefined);
}

/** The portal note of this version failed (not published): a portal-only fallback reaches nobody. */
function portalUnavailable(d: Draft, version: number): boolean {
  return d.m.deliveries.some((x) => x.version === version && x.channel === 'portal' && x.state === 'failed');
}

/**
 * Portal-only fallback: the portal note stands (or, when the portal itself failed, staff call),
 * and the administrator is paged once per gate. An abnormal result whose secure thread failed also
 * gets a call task, because a portal note alone may go unread.
 */
export function channelFallback(
  d: Draft,
  delivery: Delivery,
  failure: DeliveryFailure,
  errorType: string | undefined,
  extra: { errorClass?: 'transient' | 'permanent' } = {},
): void {
  if (delivery.epoch !== d.m.gate.epoch || d.m.cancelled) {
    d.audit({
      action: 'fallback',
      channel: delivery.channel,
      outcome: `stale-${failure}`,
      details: { step: delivery.step },
    });
    return;
  }
  d.audit({
    action: 'fallback',
    channel: delivery.channel,
    template: delivery.template,
    outcome: `${delivery.channel}-${failure}`,
    details: { step: delivery.step, errorType, errorClass: extra.errorClass, outageSpentMs: delivery.outageSpentMs },
  });
  if (delivery.template === 'consent-invitation') return;
  if (failure === 'not-published') {
    // Not an outage but no way to reach the patient from here (e.g. an HL7 result with no athena
    // document and no SMS consent): staff call, without paging the administrator for each result.
    createCallTask(d, { step: 'call-no-reachable', reason: 'no-reachable-channel', priority: 'normal' });
    return;
  }
  if (!d.m.gate.fallback) {
    d.m.gate.fallback = true;
    page(d, {
      step: 'page-fallback-admin',
      staffId: d.policy.administratorId,
      reason: 'channel-fallback',
      urgency: 'normal',
    });
  }
  const portalFailed = delivery.channel === 'portal' || portalUnavailable(d, delivery.version);
  if (portalFailed || (delivery.channel === 'spruce' && d.m.acuity === 'abnormal')) {
    createCallTask(d, { step: `call-fallback-${delivery.channel}`, reason: 'channel-fallback', priority: 'normal' });
  }
}

/**
 * Abnormal result without a secure thread: a generic "secure message" text where consent allows,
 * and a call task if nothing is read in time, or at once when no channel reaches the patient.
 */
export function noSecureThreadRoute(d: Draft): void {
  const patient = d.m.result.patient;
  const canText = patient.mobilePhone !== undefined && d.m.smsConsent === true;
  if (canText) planSms(d, 'secure-message-waiting');
  if (!canText && patient.portalActive !== true) {
    createCallTask(d, { step: 'call-no-reachable', reason: 'no-reachable-channel', priority: 'normal' });
  } else {
    d.m.gate.unreadCallAt ??= d.plusMinutes(d.policy.abnormalUnreadCallMinutes);
  }
}

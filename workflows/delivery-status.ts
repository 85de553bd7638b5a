import { ActivityErrorType } from '../domain/activity-error-types';
import type { DeliveryStatus, DeliveryStatusEvent } from './definitions';
import { channelFallback, findDelivery, optedOutAtCarrier } from './delivery';
import type { Draft } from './draft';
import type { Delivery } from './model';
import { createCallTask } from './staff';

/**
 * Delivery reports (Twilio status callbacks, Spruce read receipts) and what they change: a message
 * the provider accepted and later reported failed or undelivered falls back like an outage (the
 * portal note stands, the administrator is paged), whether the carrier's reason was transient
 * (30003, handset off) or permanent: it is never sent again, because a text reported lost may still
 * arrive, and one result version gets at most one text. One refused because the number opted out is
 * a consent revocation (portal only, nobody paged); a secure thread that was read needs no call.
 * A report may arrive before the send's own answer (the callback beat the API response): it waits
 * in a bounded buffer and is applied when the message ID becomes known.
 */

/** Status reports that can only move forward: a late "sent" never overwrites "delivered". */
const STATUS_RANK: Record<DeliveryStatus, number> = {
  queued: 0,
  sent: 1,
  failed: 2,
  undelivered: 2,
  delivered: 3,
  read: 4,
};

/** How many unmatched delivery reports are kept (reports for other runs' messages would pile up). */
export const MAX_BUFFERED_STATUSES = 50;

/** A delivery report from Twilio/Spruce/athena (via the API). */
export function onDeliveryStatus(d: Draft, event: DeliveryStatusEvent): void {
  const delivery = d.m.deliveries.find(
    (x) => x.providerMessageId === event.providerMessageId && x.channel === event.channel,
  );
  if (delivery === undefined) {
    if (event.channel !== 'sms' && event.channel !== 'spruce' && event.channel !== 'portal') return;
    const seen = d.m.statusBuffer.some(
      (s) =>
        s.providerMessageId === event.providerMessageId && s.status === event.status && s.channel === event.channel,
    );
    if (!seen) {
      d.m.statusBuffer.push({
        channel: event.channel,
        providerMessageId: event.providerMessageId,
        status: event.status,
        ...(event.errorCode !== undefined ? { errorCode: event.errorCode } : {}),
        ...(event.errorClass !== undefined ? { errorClass: event.errorClass } : {}),
        ...(event.errorType !== undefined ? { errorType: event.errorType } : {}),
      });
      if (d.m.statusBuffer.length > MAX_BUFFERED_STATUSES) d.m.statusBuffer.shift();
    }
    return;
  }
  applyStatus(d, delivery, event);
}

type StatusReport = Pick<DeliveryStatusEvent, 'status' | 'errorCode' | 'errorClass' | 'errorType'>;

/** Reports that arrived before the send's answer, for the delivery `key` that has just been accepted. */
export function applyBufferedStatuses(d: Draft, key: string): void {
  const delivery = findDelivery(d, key);
  if (delivery?.providerMessageId === undefined) return;
  const id = delivery.providerMessageId;
  const buffered = d.m.statusBuffer.filter((s) => s.providerMessageId === id && s.channel === delivery.channel);
  d.m.statusBuffer = d.m.statusBuffer.filter((s) => !buffered.includes(s));
  for (const s of buffered) applyStatus(d, delivery, s);
}

function applyStatus(d: Draft, delivery: Delivery, report: StatusReport): void {
  const { status, errorCode } = report;
  const current = delivery.status;
  if (current !== undefined && STATUS_RANK[status] <= STATUS_RANK[current]) return;
  delivery.status = status;
  if (errorCode !== undefined) delivery.errorCode = errorCode;
  d.audit({
    action: 'delivery-status',
    channel: delivery.channel,
    template: delivery.template,
    outcome: status,
    ref: delivery.providerMessageId,
    details: { step: delivery.step, errorCode, errorClass: report.errorClass, errorType: report.errorType },
  });
  if (status === 'read' && delivery.epoch === d.m.gate.epoch) d.m.gate.unreadCallAt = undefined;
  if ((status === 'failed' || status === 'undelivered') && delivery.state === 'accepted') {
    if (delivery.channel === 'sms' && report.errorType === ActivityErrorType.SMS_OPTED_OUT) {
      delivery.failure = 'opted-out';
      optedOutAtCarrier(d, delivery, report.errorType);
      return;
    }
    delivery.failure = 'undelivered';
    channelFallback(d, delivery, 'undelivered', errorCode, {
      ...(report.errorClass !== undefined ? { errorClass: report.errorClass } : {}),
    });
  }
}

/** An abnormal result nobody read in time: a person calls. */
export function unreadCallIfDue(d: Draft): void {
  const gate = d.m.gate;
  if (!d.isDue(gate.unreadCallAt) || d.m.cancelled) return;
  gate.unreadCallAt = undefined;
  d.audit({ action: 'routing-decision', outcome: 'unread-call-task', details: { epoch: gate.epoch } });
  createCallTask(d, { step: 'call-abnormal-unread', reason: 'abnormal-unread', priority: 'normal' });
}

import type { DeliveryStatusRecord } from '../../activities/outbox';
import type { AuditSink, JsonValue } from '../../lib/audit/types';
import type { WorkflowSignaller } from '../../lib/consent/workflow-signaller';
import { deliveryStatusSignal, type Channel, type DeliveryStatus } from '../../workflows/definitions';

/** What a delivery-status webhook needs to audit a status and tell the workflow. */
export interface DeliveryStatusDeps {
  audit: AuditSink;
  signaller: WorkflowSignaller;
  now: () => Date;
}

/** A provider's report on one of our sends, once the outbox row it belongs to is known. */
export interface DeliveryStatusReport {
  /** The provider that called back (the audit actor). */
  provider: 'twilio' | 'spruce';
  channel: Channel;
  providerMessageId: string;
  status: DeliveryStatus;
  /** The provider's error code, for undelivered/failed; carried in the signal. */
  errorCode?: string;
  /** The audit event's details (IDs and codes only). */
  details: Record<string, JsonValue>;
  /** One audit event per distinct callback, so re-deliveries append nothing twice. */
  idempotencyKey: string;
}

/**
 * Audit a delivery status of a send we own, then signal it to the workflow that sent it. A stale
 * status (one the outbox did not apply because a later one is already recorded, e.g. `sent` after
 * `delivered`) is audited but not signalled.
 */
export async function auditAndSignalDeliveryStatus(
  deps: DeliveryStatusDeps,
  owner: DeliveryStatusRecord,
  report: DeliveryStatusReport,
): Promise<void> {
  const at = deps.now().toISOString();
  await deps.audit.append({
    occurredAt: at,
    practiceId: owner.practiceId,
    workflowId: owner.workflowId,
    ...(owner.patientId !== undefined ? { patientId: owner.patientId } : {}),
    actor: { type: 'system', id: report.provider },
    action: 'delivery-status',
    channel: report.channel,
    outcome: report.status,
    details: report.details,
    idempotencyKey: report.idempotencyKey,
  });
  if (owner.applied) {
    await deps.signaller.signal(owner.workflowId, deliveryStatusSignal, {
      channel: report.channel,
      providerMessageId: report.providerMessageId,
      status: report.status,
      ...(report.errorCode !== undefined ? { errorCode: report.errorCode } : {}),
      at,
    });
  }
}

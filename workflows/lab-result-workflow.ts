import {
  condition,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  ApplicationFailure,
} from '@temporalio/workflow';
import type { LabloopActivities as Activities } from '../activities/contract';
import { classifyAcuity } from '../domain/classification';
import type { Acuity, LabResult } from '../domain/lab-result';
import {
  deliveryStatusSignal,
  getResultDetailQuery,
  getStatusQuery,
  resultReceivedSignal,
  signOffUpdate,
  StateSearchAttribute,
  AcuitySearchAttribute,
  PracticeSearchAttribute,
  type ActionRecord,
  type DeliveryView,
  type LabResultWorkflowInput,
  type ResultStatusView,
  type SignOffRequest,
  type WorkflowState,
} from './definitions';
import { workflowNow } from './workflow-time';

/** Database activities: short, idempotent, retried until the database is back. */
const db = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * SMS delivery: each attempt may wait 30 s for Twilio; retries back off 5 s → 10 s → 20 s … capped
 * at 2 min, so the 30-minute outage window holds about 17 attempts before the fallback decides.
 */
const sms = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes' },
  scheduleToCloseTimeout: '30 minutes',
});

const GENERIC_SMS_TEMPLATE = 'generic-results-ready';

function genericSmsBody(firstName: string | undefined): string {
  const greeting = firstName !== undefined && /^[\p{L}' -]{1,20}$/u.test(firstName) ? `Hi ${firstName}, ` : 'Hi, ';
  return `${greeting}your lab results are ready in your patient portal. Reply HELP for help.`;
}

/** One lab result, from first sight until the patient has been told (or the result is cancelled). */
export async function labResultWorkflow(input: LabResultWorkflowInput): Promise<ResultStatusView> {
  const { workflowId } = workflowInfo();
  let result: LabResult = input.result;
  let version = 1;
  let acuity: Acuity = classifyAcuity(result.observations, input.policy.flagMappings);
  let state: WorkflowState = 'awaiting-sign-off';
  let signedBy: string | undefined = result.signedOff?.providerId;
  let signedAt: string | undefined = result.signedOff !== undefined ? (result.signedOff.at ?? input.receivedAt) : undefined;
  const seenMessageIds = new Set<string>([result.messageId]);
  const actions: ActionRecord[] = [];
  const deliveries: DeliveryView[] = [];

  const view = (): ResultStatusView => ({
    workflowId,
    practiceId: input.policy.practiceId,
    state,
    acuity,
    resultStatus: result.status,
    version,
    receivedAt: input.receivedAt,
    signed: signedBy !== undefined,
    signedBy,
    signedAt,
    escalationLevel: 0,
    deliveries: deliveries.map((d) => ({ ...d })),
    actions: actions.map((a) => ({ ...a })),
  });

  const setState = (next: WorkflowState) => {
    state = next;
    upsertSearchAttributes([{ key: StateSearchAttribute, value: next }]);
  };

  setHandler(getStatusQuery, view);
  setHandler(getResultDetailQuery, () => ({ view: view(), result, annotations: [] }));

  setHandler(resultReceivedSignal, ({ result: incoming }) => {
    if (seenMessageIds.has(incoming.messageId)) return; // a retransmission: nothing new
    seenMessageIds.add(incoming.messageId);
    result = incoming;
    version += 1;
    acuity = classifyAcuity(result.observations, input.policy.flagMappings);
    if (incoming.signedOff !== undefined && signedBy === undefined) {
      signedBy = incoming.signedOff.providerId;
      signedAt = incoming.signedOff.at ?? workflowNow();
    }
  });

  setHandler(
    signOffUpdate,
    (request: SignOffRequest) => {
      if (signedBy === undefined) {
        signedBy = request.providerId;
        signedAt = workflowNow();
        actions.push({ at: signedAt, kind: 'sign-off', outcome: 'signed', ref: request.providerId });
        return { state, alreadySigned: false, signedBy, signedAt };
      }
      return { state, alreadySigned: true, signedBy, signedAt: signedAt ?? workflowNow() };
    },
    {
      validator: (request: SignOffRequest) => {
        const staff = input.policy.staff.find((s) => s.id === request.providerId);
        if (request.practiceId !== input.policy.practiceId || staff?.role !== 'provider') {
          throw new Error('only a provider of this practice can sign this result');
        }
      },
    },
  );

  setHandler(deliveryStatusSignal, (event) => {
    const delivery = deliveries.find((d) => d.providerMessageId === event.providerMessageId);
    if (delivery !== undefined) delivery.status = event.status;
  });

  upsertSearchAttributes([
    { key: PracticeSearchAttribute, value: input.policy.practiceId },
    { key: AcuitySearchAttribute, value: acuity },
    { key: StateSearchAttribute, value: state },
  ]);

  await db.linkWorkflowPatient({
    workflowId,
    practiceId: input.policy.practiceId,
    patientId: result.patient.id,
    phone: result.patient.mobilePhone,
  });

  await condition(() => signedBy !== undefined && result.status !== 'preliminary');
  if (acuity !== 'normal') {
    // The full routing (Spruce, pages, call tasks) is the workflow issue's; the skeleton only holds.
    throw ApplicationFailure.nonRetryable(`routing for ${acuity} results is not implemented yet`);
  }
  const phone = result.patient.mobilePhone;
  const consented =
    phone !== undefined &&
    (await db.checkSmsConsent({ practiceId: input.policy.practiceId, patientId: result.patient.id, phone }));
  if (phone !== undefined && consented) {
    setState('notifying');
    const step = 'generic-sms';
    const delivery: DeliveryView = { channel: 'sms', step, status: 'pending' };
    deliveries.push(delivery);
    const sent = await sms.sendGenericSms({
      workflowId,
      resultVersion: version,
      step,
      practiceId: input.policy.practiceId,
      patientId: result.patient.id,
      to: phone,
      body: genericSmsBody(result.patient.firstName),
      template: GENERIC_SMS_TEMPLATE,
      requiresConsent: true,
    });
    delivery.providerMessageId = sent.providerMessageId;
    if (delivery.status === 'pending') delivery.status = 'queued';
    actions.push({ at: workflowNow(), kind: 'send', channel: 'sms', outcome: 'accepted', ref: sent.providerMessageId });
    await condition(() => delivery.status === 'delivered' || delivery.status === 'failed' || delivery.status === 'undelivered', '1 hour');
  }
  setState('notified');
  await db.closeWorkflowPatient(workflowId);
  return view();
}

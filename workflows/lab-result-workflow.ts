import { ApplicationFailure, condition, setHandler, workflowInfo } from '@temporalio/workflow';
import { initialModel } from './decide';
import {
  annotateUpdate,
  callCompletedSignal,
  consentChangedSignal,
  deliveryStatusSignal,
  getResultDetailQuery,
  getStatusQuery,
  INVALID_REQUEST_ERROR_TYPE,
  resultRefOf,
  patientReplySignal,
  resultReceivedSignal,
  signOffUpdate,
  smsTaskQueueFor,
  type AnnotationRequest,
  type LabResultWorkflowInput,
  type ResultStatusView,
  type SignOffRequest,
  type SignOffResult,
} from './definitions';
import type { DecisionContext } from './draft';
import { annotationProblem, signOffProblem } from './gate';
import type { Model } from './model';
import { asWorkflowFailure, Runner } from './runner';
import { phaseOf, resultDetail, statusView } from './view';
import { workflowNow } from './workflow-time';

/**
 * One lab result, from first sight until the patient has been told and the correction window has
 * passed (or the lab cancelled it). The clinic's safety policy lives in the decision core
 * (decide.ts and the modules it uses); this function wires it to Temporal: message handlers,
 * activities, timers and search attributes.
 *
 * Decisions worth knowing when operating it:
 * - Time zones: SLA deadlines and the patient's messaging window are computed by activities
 *   (computeBusinessDeadline, computePatientSendWindow), so the answers are in history and a replay
 *   on a Node with newer ICU time-zone data acts exactly as the run did.
 * - Lifetime: the workflow stays open CORRECTION_WINDOW_DAYS (lifecycle.ts) after everything owed
 *   was done, so corrections and cancels meet its state; an unsigned or preliminary result, an open
 *   call task or a held text keeps it open. A version arriving after it closed starts a new run under
 *   the same ID (signal-with-start), which reads the outbox and the earlier run's closing audit row
 *   (findPriorRuns): it numbers its versions after the earlier run's, refuses another patient, treats
 *   new values (even sent as "final") as a correction that needs its own sign-off and then an
 *   "updated result" notice, and a re-delivery of the values it ended with as already notified.
 * - A critical first message is paged at once, before findPriorRuns answers (critical.ts).
 * - SMS go to smsTaskQueueFor(this workflow's task queue, the practice's sender), where the SMS
 *   worker applies the sender's rate limit; everything else (staff SMS pages included) runs on the
 *   workflow's own task queue.
 * - A send that stops being wanted while in flight (cancel, correction) has its activity cancelled
 *   through its own cancellation scope (runner.ts); the decision core waits for that activity's
 *   outcome, because an attempt already at the provider may have gone out.
 */
export async function labResultWorkflow(input: LabResultWorkflowInput): Promise<ResultStatusView> {
  const info = workflowInfo();
  const resultRef = resultRefOf(info.workflowId);
  const ctx: DecisionContext = {
    workflowId: info.workflowId,
    runId: info.runId,
    policy: input.policy,
    ...(resultRef !== undefined ? { resultRef } : {}),
  };
  let model: Model;
  try {
    model = initialModel(input);
  } catch (err) {
    throw asWorkflowFailure(err);
  }
  const runner = new Runner(model, ctx, {
    smsTaskQueue: smsTaskQueueFor(info.taskQueue, input.policy.smsSenderId),
    policyTimeZone: input.policy.calendar.timeZone,
    patientWindow: input.policy.patientQuietHours,
    calendar: input.policy.calendar,
    onCall: { schedule: input.policy.onCallSchedule ?? [], defaultStaffId: input.policy.onCallProviderId },
  });
  const view = () => ({ m: runner.model, policy: input.policy });

  setHandler(getStatusQuery, () => statusView(runner.model, ctx));
  setHandler(getResultDetailQuery, () => resultDetail(runner.model, ctx));
  setHandler(resultReceivedSignal, (message) => runner.dispatch({ type: 'received', at: workflowNow(), message }));
  setHandler(deliveryStatusSignal, (status) => runner.dispatch({ type: 'deliveryStatus', at: workflowNow(), status }));
  setHandler(patientReplySignal, (reply) => runner.dispatch({ type: 'patientReply', at: workflowNow(), reply }));
  setHandler(consentChangedSignal, (change) => runner.dispatch({ type: 'consentChanged', at: workflowNow(), change }));
  setHandler(callCompletedSignal, (call) => runner.dispatch({ type: 'callCompleted', at: workflowNow(), call }));

  setHandler(
    signOffUpdate,
    async (request): Promise<SignOffResult> => {
      // The first message is taken in once earlier runs are known (a database read away).
      await condition(() => runner.model.ready);
      const problem = signOffProblem(view(), request);
      if (problem !== undefined) throw ApplicationFailure.nonRetryable(problem, INVALID_REQUEST_ERROR_TYPE);
      const alreadySigned = runner.model.gate.signature !== undefined;
      runner.dispatch({ type: 'signOff', at: workflowNow(), request });
      const signature = runner.model.gate.signature;
      if (signature === undefined)
        throw ApplicationFailure.nonRetryable('the sign-off was not recorded', INVALID_REQUEST_ERROR_TYPE);
      return { state: phaseOf(runner.model), alreadySigned, signedBy: signature.by, signedAt: signature.at };
    },
    {
      validator: (request: SignOffRequest) => {
        const problem = signOffProblem(view(), request);
        if (problem !== undefined) throw ApplicationFailure.nonRetryable(problem, INVALID_REQUEST_ERROR_TYPE);
      },
    },
  );

  setHandler(
    annotateUpdate,
    async (request) => {
      await condition(() => runner.model.ready);
      runner.dispatch({ type: 'annotate', at: workflowNow(), request });
      return { annotations: runner.model.annotations.length };
    },
    {
      validator: (request: AnnotationRequest) => {
        const problem = annotationProblem(view(), request);
        if (problem !== undefined) throw ApplicationFailure.nonRetryable(problem, INVALID_REQUEST_ERROR_TYPE);
      },
    },
  );

  runner.dispatch({ type: 'started', at: workflowNow(), input });
  await runner.run();
  return statusView(runner.model, ctx);
}

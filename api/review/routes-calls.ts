import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Client } from '@temporalio/client';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Pool } from 'pg';
import { z } from 'zod';
import {
  CALL_OUTCOME_LABELS,
  CALL_OUTCOMES,
  CALL_REASON_LABELS,
  completeCallTaskAndSignal,
  listOpenCallTasks,
  type OpenCallTask,
} from '../../lib/review/call-tasks';
import type { AuditSink } from '../../lib/audit/types';
import { ACUITY_LABELS } from '../../lib/review/labels';
import { staffDisplayName } from '../../lib/review/staff';
import { formatAge, formatLocal } from '../../lib/review/time-left';
import type { PracticePolicy } from '../../domain/practice';
import { callCompletedSignal } from '../../workflows/definitions';
import { can } from '../auth/roles';
import { isHtmx, requirePermission, userOf } from './guards';
import { renderFragment, renderPage } from './page';
import { auditListView } from './phi-access';
import { messagePage } from './routes-result';
import { resultHref } from './view-models';

/**
 * Staff's outbound-call work list: open call tasks (urgent first, then oldest), each with the number
 * to call and a form to record the outcome. Completing one signals the result's workflow
 * (callCompleted) and closes the task in the same step (lib/review/call-tasks.ts).
 */

/** A signal is accepted by the server in milliseconds; 10 s means Temporal is unreachable. */
const SIGNAL_DEADLINE_MS = 10_000;

const TaskParams = z.object({
  taskId: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'is not a call-task ID'),
});
const CompleteBody = z.object({
  outcome: z.enum(CALL_OUTCOMES, { error: `must be one of ${CALL_OUTCOMES.join(', ')}` }),
});

function domId(taskId: string): string {
  return taskId.replace(/[^A-Za-z0-9_-]/g, '_');
}

function taskView(task: OpenCallTask, practice: PracticePolicy, now: Date) {
  return {
    domId: domId(task.id),
    idParam: encodeURIComponent(task.id),
    urgent: task.priority === 'urgent',
    patientName: task.patientName ?? `patient ${task.patientId}`,
    phone: task.phone,
    reason: CALL_REASON_LABELS[task.reason] ?? task.reason,
    panelName: task.panelName ?? 'Lab result',
    resultHref: resultHref(task.workflowId),
    acuity: task.acuity === undefined ? undefined : { acuity: task.acuity, label: ACUITY_LABELS[task.acuity] },
    age: `${formatAge(task.createdAt, now)} (${formatLocal(task.createdAt, practice.calendar.timeZone)})`,
    assignedTo: staffDisplayName(practice, task.assignedTo),
  };
}

export function callTaskRoutes(
  app: FastifyInstance,
  deps: { pool: Pool; temporal: Client; now: () => Date; audit: Pick<AuditSink, 'append'> },
): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const forbidden = async (request: FastifyRequest, reply: FastifyReply, message: string) => {
    await messagePage(request, reply, 403, 'Not allowed', message);
  };

  routes.get('/calls', { preValidation: requirePermission('view-call-tasks', forbidden) }, async (request, reply) => {
    const user = userOf(request);
    const now = deps.now();
    const tasks = await listOpenCallTasks(deps.pool, user.practice.practiceId);
    // Names and phone numbers of patients to call: reading PHI, audited before it is shown.
    await auditListView(deps.audit, { user, at: now, view: 'call-list', method: request.method, shown: tasks });
    const urgent = tasks.filter((t) => t.priority === 'urgent').length;
    return renderPage(request, reply, 'calls', 'Call tasks', {
      tasks: tasks.map((t) => taskView(t, user.practice, now)),
      summary: `${tasks.length} open call task${tasks.length === 1 ? '' : 's'}${urgent > 0 ? `, ${urgent} urgent` : ''}. Urgent calls first, then the longest waiting.`,
      outcomes: CALL_OUTCOMES.map((value) => ({ value, label: CALL_OUTCOME_LABELS[value] })),
      canComplete: can(user.role, 'complete-call-task'),
    });
  });

  routes.post(
    '/calls/:taskId/complete',
    {
      schema: { params: TaskParams, body: CompleteBody },
      // The CSRF check is added to every form route by the review app (requireCsrfByDefault).
      preValidation: requirePermission('complete-call-task', forbidden),
    },
    async (request, reply) => {
      const user = userOf(request);
      const { taskId } = request.params;
      const at = deps.now();
      let outcome;
      try {
        outcome = await completeCallTaskAndSignal(
          deps.pool,
          { taskId, practiceId: user.practice.practiceId, staffId: user.staff.id, outcome: request.body.outcome },
          (workflowId) =>
            deps.temporal.withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () =>
              deps.temporal.workflow.getHandle(workflowId).signal(callCompletedSignal, {
                taskId,
                staffId: user.staff.id,
                outcome: request.body.outcome,
                at: at.toISOString(),
              }),
            ),
        );
      } catch (err) {
        request.log.error({ err, taskId }, 'review app: call completion failed');
        return messagePage(
          request,
          reply,
          503,
          'Call not recorded',
          'The call could not be recorded right now; the task is still open. Try again in a minute.',
        );
      }
      request.log.info({ taskId, staffId: user.staff.id, outcome: outcome.kind }, 'review app: call task completion');
      if (outcome.kind === 'not-found') {
        return messagePage(request, reply, 404, 'Call task not found', 'There is no such call task in your practice.');
      }
      const done =
        outcome.kind === 'completed'
          ? {
              kind: 'success' as const,
              text: `Call recorded: ${CALL_OUTCOME_LABELS[request.body.outcome]}. The task is closed.`,
            }
          : {
              kind: 'warning' as const,
              text: `This call task was already ${outcome.status}${outcome.completedBy === undefined ? '' : ` by ${staffDisplayName(user.practice, outcome.completedBy)}`}${outcome.completedAt === undefined ? '' : ` on ${formatLocal(outcome.completedAt, user.practice.calendar.timeZone)}`}.`,
            };
      const status = outcome.kind === 'completed' ? 200 : 409;
      if (isHtmx(request))
        return renderFragment(request, reply, 'partials/call-done', { domId: domId(taskId), notice: done }, status);
      const tasks = await listOpenCallTasks(deps.pool, user.practice.practiceId);
      await auditListView(deps.audit, {
        user,
        at: deps.now(),
        view: 'call-list',
        method: request.method,
        shown: tasks,
      });
      return renderPage(
        request,
        reply,
        'calls',
        'Call tasks',
        {
          tasks: tasks.map((t) => taskView(t, user.practice, deps.now())),
          notice: done,
          summary: `${tasks.length} open call task${tasks.length === 1 ? '' : 's'} left.`,
          outcomes: CALL_OUTCOMES.map((value) => ({ value, label: CALL_OUTCOME_LABELS[value] })),
          canComplete: true,
        },
        status,
      );
    },
  );
}

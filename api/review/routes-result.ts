import type { AuditSink } from '../../lib/audit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Client } from '@temporalio/client';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  ANNOTATION_MAX_CHARS,
  annotateUpdate,
  LAB_RESULT_WORKFLOW_ID_PATTERN,
  signOffUpdate,
  type ResultDetail,
} from '../../workflows/definitions';
import { can } from '../auth/roles';
import type { SignedInUser } from '../auth/session';
import { isHtmx, requirePermission, userOf } from './guards';
import { renderFragment, renderPage, type Notice } from './page';
import { resultDetailView, resultHref, signOffView, type SignOffView } from './view-models';
import { fetchResultDetail, runUpdate, QUERY_DEADLINE_MS, type UpdateOutcome } from './workflow-calls';
import { csrfCheck } from '../auth/csrf';

/**
 * A result's page (values, ranges, flags, history) and its actions: Sign, Sign with a note to the
 * patient, Annotate. Each action is the workflow's update; the page shows the state the update
 * returns. Forms post normally without JavaScript (303 back to the page with a notice); with htmx
 * the actions panel is swapped in place.
 */

/** A note reaches the patient through Spruce or the portal; a page of text is plenty. */
export const NOTE_MAX_CHARS = 1000;

const Params = z.object({
  workflowId: z.string().regex(LAB_RESULT_WORKFLOW_ID_PATTERN, 'is not a lab-result ID'),
});

const SignBody = z.object({
  note: z.string().max(NOTE_MAX_CHARS, `must be at most ${NOTE_MAX_CHARS} characters`).optional(),
  /**
   * The result version the page showed (both sign forms carry it). Required: without it nobody can
   * say which values the provider saw, and the workflow refuses a version that is not current.
   */
  version: z
    .string({ error: 'is required: the version of the result the page showed (reload the page and sign again)' })
    .trim()
    .regex(/^\d{1,9}$/, 'must be the whole number of the result version the page showed')
    .transform(Number),
});

const AnnotateBody = z.object({
  text: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(ANNOTATION_MAX_CHARS, `must be at most ${ANNOTATION_MAX_CHARS} characters`),
});

/** Notices a redirect may ask the page to show (a fixed set: the URL cannot inject text). */
const PAGE_NOTICES: Record<string, Notice> = {
  signed: { kind: 'success', text: 'Signed. The patient will be told on the right channel.' },
  annotated: { kind: 'success', text: 'Annotation saved.' },
};

export function resultRoutes(
  app: FastifyInstance,
  deps: { temporal: Client; now: () => Date; audit: Pick<AuditSink, 'append'> },
): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const requireCsrf = csrfCheck(app);
  const forbidden = async (request: FastifyRequest, reply: FastifyReply, message: string) => {
    await messagePage(request, reply, 403, 'Not allowed', message);
  };

  const actionsData = (user: SignedInUser, detail: ResultDetail, signOff: SignOffView, notice: Notice | undefined) => {
    const view = resultDetailView(detail, user.practice, deps.now());
    return {
      result: view,
      signOff,
      canSign: can(user.role, 'sign'),
      canAnnotate: can(user.role, 'annotate'),
      actionsHref: resultHref(detail.view.workflowId),
      version: detail.view.version,
      annotations: view.annotations,
      limits: { note: NOTE_MAX_CHARS, annotation: ANNOTATION_MAX_CHARS },
      notice,
    };
  };

  /** The result for this user, or a page saying why not (a result of another practice is "not found"). */
  const loadDetail = async (request: FastifyRequest, reply: FastifyReply, workflowId: string) => {
    const user = userOf(request);
    const outcome = await fetchResultDetail(deps.temporal, workflowId);
    if (outcome.kind === 'ok' && outcome.detail.view.practiceId === user.practice.practiceId) {
      // Showing a result is reading PHI: HIPAA access logging wants who saw which result, when.
      await deps.audit.append({
        occurredAt: deps.now().toISOString(),
        practiceId: user.practice.practiceId,
        workflowId,
        patientId: outcome.detail.result.patient.id,
        actor: { type: user.role === 'provider' ? 'provider' : 'staff', id: user.staff.id },
        action: 'phi-access',
        outcome: 'viewed',
        details: { view: 'result-detail', method: request.method },
      });
      return outcome.detail;
    }
    if (outcome.kind === 'unavailable') {
      await messagePage(
        request,
        reply,
        503,
        'Result not available right now',
        `The result could not be loaded within ${QUERY_DEADLINE_MS / 1000} seconds. Try again in a minute.`,
      );
    } else {
      await messagePage(request, reply, 404, 'Result not found', 'There is no result with this link in your practice.');
    }
    return undefined;
  };

  const showDetail = async (
    request: FastifyRequest,
    reply: FastifyReply,
    detail: ResultDetail,
    notice?: Notice,
    status = 200,
  ) => {
    const user = userOf(request);
    const data = actionsData(user, detail, signOffView(user.practice, detail.view), notice);
    return renderPage(request, reply, 'result', data.result.panelName, data, status);
  };

  /** After an action: the panel (htmx) or the whole page (plain form; 303 on success). */
  const answerAction = async (
    request: FastifyRequest,
    reply: FastifyReply,
    workflowId: string,
    outcome: { notice: Notice; status: number; signOff?: SignOffView; redirectNotice?: string },
  ) => {
    const user = userOf(request);
    if (!isHtmx(request) && outcome.redirectNotice !== undefined) {
      return reply.code(303).redirect(`${resultHref(workflowId)}?notice=${outcome.redirectNotice}`);
    }
    const fresh = await fetchResultDetail(deps.temporal, workflowId);
    if (fresh.kind !== 'ok') {
      return messagePage(request, reply, outcome.status, 'Result', outcome.notice.text, outcome.notice.kind);
    }
    const signOff = outcome.signOff ?? signOffView(user.practice, fresh.detail.view);
    if (isHtmx(request)) {
      // swapped: the fragment also removes the page's "sign-off due" line once signed (out-of-band swap).
      return renderFragment(
        request,
        reply,
        'partials/result-actions',
        { ...actionsData(user, fresh.detail, signOff, outcome.notice), swapped: true },
        outcome.status,
      );
    }
    return showDetail(request, reply, fresh.detail, outcome.notice, outcome.status);
  };

  routes.get(
    '/results/:workflowId',
    {
      schema: { params: Params, querystring: z.object({ notice: z.string().max(32).optional() }) },
      preValidation: requirePermission('view-results', forbidden),
    },
    async (request, reply) => {
      const detail = await loadDetail(request, reply, request.params.workflowId);
      if (detail === undefined) return reply;
      const notice = request.query.notice === undefined ? undefined : PAGE_NOTICES[request.query.notice];
      return showDetail(request, reply, detail, notice);
    },
  );

  routes.post(
    '/results/:workflowId/sign',
    { schema: { params: Params, body: SignBody }, preValidation: [requirePermission('sign', forbidden), requireCsrf] },
    async (request, reply) => {
      const user = userOf(request);
      const { workflowId } = request.params;
      const note = request.body.note?.trim();
      const shown = request.body.version;

      // A correction may have arrived since the page was rendered: never sign values nobody has seen.
      const status = await fetchResultDetail(deps.temporal, workflowId);
      if (status.kind !== 'ok' || status.detail.view.practiceId !== user.practice.practiceId) {
        return answerMissing(request, reply, status.kind === 'unavailable');
      }
      const current = status.detail.view;
      // A page opened in the moment between the workflow's start and its intake of the first message
      // shows version 0: its values were that first message's, and the workflow counts it as the
      // run's first version (gate.ts). Any other shown version older than the current one is stale.
      if (!current.signed && shown !== 0 && current.version > shown) {
        return answerAction(request, reply, workflowId, {
          status: 409,
          notice: {
            kind: 'warning',
            text: `This result was updated (version ${current.version}) after you opened it. Review the new values below before signing.`,
          },
        });
      }

      const outcome = await runUpdate(deps.temporal, workflowId, (handle) =>
        handle.executeUpdate(signOffUpdate, {
          args: [
            {
              providerId: user.staff.id,
              practiceId: user.practice.practiceId,
              ...(note === undefined || note === '' ? {} : { noteToPatient: note }),
              via: 'review-app',
              // Exactly what the page showed: the workflow decides whether it is still current.
              expectedVersion: shown,
            },
          ],
        }),
      );
      request.log.info({ workflowId, staffId: user.staff.id, outcome: outcomeKind(outcome) }, 'review app: sign-off');
      if (outcome.kind !== 'ok') return answerUpdateProblem(request, reply, workflowId, outcome, 'signed');

      const signOff = signOffView(user.practice, { signed: true, ...outcome.value });
      if (outcome.value.alreadySigned) {
        const by = signOff.signedBy ?? 'another provider';
        const when = signOff.signedAt === undefined ? '' : ` on ${signOff.signedAt}`;
        const extra = note === undefined || note === '' ? '' : ' Your note was not sent.';
        return answerAction(request, reply, workflowId, {
          status: 409,
          signOff,
          notice: {
            kind: 'warning',
            text: `This result was already signed by ${by}${when}. Your sign-off was not recorded again.${extra}`,
          },
        });
      }
      return answerAction(request, reply, workflowId, {
        status: 200,
        signOff,
        redirectNotice: 'signed',
        notice: {
          kind: 'success',
          text:
            note === undefined || note === ''
              ? 'Signed. The patient will be told on the right channel.'
              : 'Signed with your note. The patient will get it by secure message or the portal.',
        },
      });
    },
  );

  routes.post(
    '/results/:workflowId/annotate',
    {
      schema: { params: Params, body: AnnotateBody },
      preValidation: [requirePermission('annotate', forbidden), requireCsrf],
    },
    async (request, reply) => {
      const user = userOf(request);
      const { workflowId } = request.params;
      const status = await fetchResultDetail(deps.temporal, workflowId);
      if (status.kind !== 'ok' || status.detail.view.practiceId !== user.practice.practiceId) {
        return answerMissing(request, reply, status.kind === 'unavailable');
      }
      const outcome = await runUpdate(deps.temporal, workflowId, (handle) =>
        handle.executeUpdate(annotateUpdate, {
          args: [{ providerId: user.staff.id, practiceId: user.practice.practiceId, text: request.body.text }],
        }),
      );
      request.log.info({ workflowId, staffId: user.staff.id, outcome: outcomeKind(outcome) }, 'review app: annotation');
      if (outcome.kind !== 'ok') return answerUpdateProblem(request, reply, workflowId, outcome, 'annotated');
      return answerAction(request, reply, workflowId, {
        status: 200,
        redirectNotice: 'annotated',
        notice: { kind: 'success', text: 'Annotation saved.' },
      });
    },
  );

  const answerMissing = async (request: FastifyRequest, reply: FastifyReply, unavailable: boolean) =>
    unavailable
      ? messagePage(
          request,
          reply,
          503,
          'Result not available right now',
          'The result could not be reached. Nothing was changed; try again in a minute.',
        )
      : messagePage(request, reply, 404, 'Result not found', 'There is no result with this link in your practice.');

  const answerUpdateProblem = async (
    request: FastifyRequest,
    reply: FastifyReply,
    workflowId: string,
    outcome: Exclude<UpdateOutcome<unknown>, { kind: 'ok' }>,
    verb: 'signed' | 'annotated',
  ) => {
    switch (outcome.kind) {
      case 'rejected':
        return answerAction(request, reply, workflowId, {
          status: 403,
          notice: { kind: 'error', text: `The result was not ${verb}: ${outcome.message}` },
        });
      case 'closed':
        return answerAction(request, reply, workflowId, {
          status: 409,
          notice: { kind: 'warning', text: `This result is closed; it can no longer be ${verb}.` },
        });
      case 'not-found':
        return answerMissing(request, reply, false);
      case 'timeout':
        // 202: the request may still be applied; a reload shows whether it was.
        return answerAction(request, reply, workflowId, {
          status: 202,
          notice: {
            kind: 'warning',
            text: `No confirmation yet that the result was ${verb}. Reload the page in a moment to see its state; doing it again is safe.`,
          },
        });
    }
  };
}

function outcomeKind(outcome: UpdateOutcome<unknown>): string {
  return outcome.kind;
}

export async function messagePage(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  heading: string,
  message: string,
  kind: Notice['kind'] = status >= 400 ? 'error' : 'info',
): Promise<FastifyReply> {
  if (isHtmx(request)) {
    // Errors land in the page's flash region, leaving the form the user was using intact.
    reply.header('hx-retarget', '#flash').header('hx-reswap', 'innerHTML');
    return renderFragment(request, reply, 'partials/notice', { notice: { kind, text: message } }, status);
  }
  return renderPage(
    request,
    reply,
    'message',
    heading,
    { heading, message, kind, backHref: '/review/queue', backLabel: 'Back to the review queue' },
    status,
  );
}

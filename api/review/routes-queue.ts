import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { DateTime } from 'luxon';
import type { Pool } from 'pg';
import { z } from 'zod';
import type { AuditSink } from '../../lib/audit/types';
import { listQueue, QUEUE_PAGE_LIMIT, QUEUE_SCOPES, type QueueScope } from '../../lib/review/queue';
import { requirePermission, userOf } from './guards';
import { renderPage } from './page';
import { auditListView } from './phi-access';
import { messagePage } from './routes-result';
import { queueRowView } from './view-models';

/** The audit export page offers the last 30 days by default: the usual span of a practice's own review. */
const AUDIT_DEFAULT_DAYS = 30;

const SCOPE_LABELS: Record<QueueScope, string> = {
  mine: 'My results',
  practice: 'All practice results',
};

export function queueRoutes(
  app: FastifyInstance,
  deps: { pool: Pool; now: () => Date; audit: Pick<AuditSink, 'append'> },
): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const forbidden = async (request: FastifyRequest, reply: FastifyReply, message: string) => {
    await messagePage(request, reply, 403, 'Not allowed', message);
  };

  routes.get('/', async (_request, reply) => reply.code(303).redirect('/review/queue'));

  routes.get(
    '/queue',
    {
      schema: {
        querystring: z.object({ scope: z.enum(QUEUE_SCOPES, { error: 'must be mine or practice' }).optional() }),
      },
      preValidation: requirePermission('view-results', forbidden),
    },
    async (request, reply) => {
      const user = userOf(request);
      // Only providers have results of their own; everyone else sees the practice's queue.
      const scopes: QueueScope[] = user.role === 'provider' ? ['mine', 'practice'] : ['practice'];
      const scope =
        request.query.scope !== undefined && scopes.includes(request.query.scope)
          ? request.query.scope
          : (scopes[0] ?? 'practice');
      const now = deps.now();
      const items = await listQueue(deps.pool, { practice: user.practice, scope, viewer: user.staff, now: deps.now() });
      // The queue shows patients' names and results: reading PHI, audited before it is shown.
      await auditListView(deps.audit, {
        user,
        at: now,
        view: 'review-queue',
        method: request.method,
        shown: items,
        details: { scope },
      });
      const rows = items.map((item) => queueRowView(item, user.practice, now));
      const criticals = items.filter((i) => i.acuity === 'critical').length;
      const count = rows.length === QUEUE_PAGE_LIMIT ? `The first ${QUEUE_PAGE_LIMIT}` : String(rows.length);
      const summary = `${count} unsigned result${rows.length === 1 ? '' : 's'}${criticals > 0 ? `, ${criticals} critical` : ''}. Times are ${user.practice.calendar.timeZone} (practice time).`;
      return renderPage(request, reply, 'queue', 'Review queue', {
        rows,
        summary,
        scopes: scopes.map((s) => ({ href: `/review/queue?scope=${s}`, label: SCOPE_LABELS[s], current: s === scope })),
      });
    },
  );

  routes.get('/audit', { preValidation: requirePermission('export-audit', forbidden) }, async (request, reply) => {
    const user = userOf(request);
    const today = DateTime.fromJSDate(deps.now(), { zone: user.practice.calendar.timeZone }).startOf('day');
    return renderPage(request, reply, 'audit', 'Audit export', {
      practiceId: user.practice.practiceId,
      practiceName: user.practice.practiceName,
      // The form's days are the practice's calendar days; the export resolves them in this zone.
      timeZone: user.practice.calendar.timeZone,
      exportHref: '/v1/audit/export',
      defaultFrom: today.minus({ days: AUDIT_DEFAULT_DAYS }).toISODate(),
      defaultTo: today.plus({ days: 1 }).toISODate(),
    });
  });
}

import { Readable } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Pool } from 'pg';
import { DateTime, IANAZone } from 'luxon';
import { z } from 'zod';
import { AuditInputError, exportAudit, type AuditActor, type AuditExportFormat } from '../../lib/audit';
import type { PrivilegedAuthHook, PrivilegedCaller } from '../auth/privileged';

/**
 * `GET /v1/audit/export?format=ndjson|csv&from=&to=&timeZone=&practiceId=&patientId=`: the audit log for an
 * OCR audit, for administrators only (an administrator token, or a signed-in administrator, who is
 * limited to their own practice). Rows whose occurred_at is in [from, to), oldest first, in the
 * formats `npm run audit:export` writes (lib/audit/export.ts documents them and how an auditor
 * re-checks the hashes). The export is streamed page by page, never held in memory, and is itself
 * audited ('export' events with the caller, the filter and the outcome).
 */

const CONTENT_TYPES: Record<AuditExportFormat, string> = {
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8; header=present',
};

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** A bound as given: a calendar date (resolved with timeZone) or an instant. Checked for shape only here. */
const dateParam = (name: string) =>
  z
    .string()
    .refine((s) => DATE_ONLY.test(s) || z.iso.datetime({ offset: true }).safeParse(s).success, {
      error: `${name} must be YYYY-MM-DD (midnight UTC, or in timeZone) or an ISO-8601 date-time with an offset`,
    })
    .refine((s) => (DATE_ONLY.test(s) ? DateTime.fromISO(s, { zone: 'UTC' }).isValid : !Number.isNaN(Date.parse(s))), {
      error: `${name} is not a real date`,
    });

/** Midnight at the start of a calendar date in `zone`, or the instant given. */
function boundOf(value: string | undefined, zone: string): Date | undefined {
  if (value === undefined) return undefined;
  return DATE_ONLY.test(value) ? DateTime.fromISO(value, { zone }).startOf('day').toJSDate() : new Date(value);
}

const identifier = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'must be an identifier (letters, digits, . _ : -)');

/** An HTML form sends an empty field for "no filter": treat it as absent. */
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

const ExportQuery = z.object({
  format: z.enum(['ndjson', 'csv'], { error: 'must be ndjson or csv' }).default('ndjson'),
  from: optional(dateParam('from')),
  to: optional(dateParam('to')),
  practiceId: optional(identifier),
  patientId: optional(identifier),
  /**
   * The IANA zone whose calendar days YYYY-MM-DD bounds name (the review app's export form sends the
   * practice's, so "to 2026-12-02" means midnight in the practice, not in UTC). Default UTC.
   */
  timeZone: optional(
    z
      .string()
      .refine((zone) => IANAZone.isValidZone(zone), { error: 'must be an IANA time zone, e.g. America/New_York' }),
  ),
});

export interface AuditExportRouteDeps {
  pool: Pool;
  /** Authentication before anything else (api/auth/privileged.ts), admitting administrators only. */
  requireAdministrator: PrivilegedAuthHook;
  /**
   * Token names (as the privileged hook reports them) that belong to senders with the
   * `audit-export` operation, and the practices each may export: such a caller exports one of its
   * own practices only, as a practice administrator does.
   */
  senderScopes?: ReadonlyMap<string, { senderId: string; practices: readonly string[] }>;
  now: () => Date;
  /** Rows per page (tests make it small to observe streaming). */
  batchSize?: number;
}

/** The export route; app.ts registers it with administrator-only authentication. */
export function auditExportRoutes(deps: AuditExportRouteDeps): FastifyPluginAsync {
  return (app) => {
    app.withTypeProvider<ZodTypeProvider>().get(
      '/v1/audit/export',
      {
        preParsing: deps.requireAdministrator,
        schema: { querystring: ExportQuery },
        // A HEAD would run (and audit) a whole export only to drop the body.
        exposeHeadRoute: false,
      },
      async (request, reply) => {
        const caller = request.privilegedCaller;
        if (caller === undefined) throw new Error('audit export reached without an authenticated caller');
        const query = request.query;
        let practiceId = query.practiceId;
        const senderScope = caller.kind === 'token' ? deps.senderScopes?.get(caller.name) : undefined;
        if (senderScope !== undefined) {
          const only = senderScope.practices.length === 1 ? senderScope.practices[0] : undefined;
          const wanted = practiceId ?? only;
          if (wanted === undefined || !senderScope.practices.includes(wanted)) {
            return reply.code(403).send({
              error: 'Forbidden',
              message: `practiceId: sender ${senderScope.senderId} may export ${senderScope.practices.join(', ')} only${practiceId === undefined ? '; name one' : ''}`,
            });
          }
          practiceId = wanted;
        }
        if (caller.kind === 'session') {
          // A practice administrator sees their own practice's trail and nobody else's.
          if (practiceId !== undefined && practiceId !== caller.practiceId) {
            return reply.code(403).send({
              error: 'Forbidden',
              message: 'practiceId: administrators may export their own practice only',
            });
          }
          practiceId = caller.practiceId;
        }

        let chunks: AsyncIterable<string>;
        try {
          chunks = exportAudit(deps.pool, {
            format: query.format,
            from: boundOf(query.from, query.timeZone ?? 'UTC'),
            to: boundOf(query.to, query.timeZone ?? 'UTC'),
            practiceId,
            patientId: query.patientId,
            actor: auditActor(caller, senderScope?.senderId),
            batchSize: deps.batchSize,
          });
        } catch (err) {
          if (err instanceof AuditInputError) {
            return reply.code(400).send({ error: 'Bad Request', message: err.problems.join('; ') });
          }
          throw err;
        }
        // Pull the first chunk before answering: the 'started' audit event is then written and the
        // database has answered, so a failure here is still a clean 5xx instead of a cut-off 200.
        const iterator = chunks[Symbol.asyncIterator]();
        const first = await iterator.next();
        request.log.info(
          { caller: auditActor(caller, senderScope?.senderId).id, format: query.format },
          'audit export started',
        );

        const stamp = deps.now().toISOString().replace(/[:.]/g, '-');
        return reply
          .header('content-type', CONTENT_TYPES[query.format])
          .header('content-disposition', `attachment; filename="labloop-audit-${stamp}.${query.format}"`)
          .header('cache-control', 'no-store')
          .send(Readable.from(resume(first, iterator), { objectMode: false }));
      },
    );
    return Promise.resolve();
  };
}

/** The already-pulled first result, then the rest; returning early closes the export (an 'aborted' event). */
async function* resume(first: IteratorResult<string>, rest: AsyncIterator<string>): AsyncGenerator<string> {
  if (first.done === true) return;
  try {
    yield first.value;
    for (let next = await rest.next(); next.done !== true; next = await rest.next()) yield next.value;
  } finally {
    await rest.return?.();
  }
}

function auditActor(caller: PrivilegedCaller, senderId?: string): AuditActor {
  if (senderId !== undefined) return { type: 'source', id: senderId };
  return caller.kind === 'session'
    ? { type: 'staff', id: caller.staffId }
    : { type: 'system', id: `admin-token:${caller.name}` };
}

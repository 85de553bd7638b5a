import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Pool } from 'pg';
import { z } from 'zod';
import type { AuditSink } from '../../lib/audit/types';
import { applyConsentChange } from '../../lib/consent/apply-change';
import type { WorkflowSignaller } from '../../lib/consent/workflow-signaller';
import type { PracticeRegistry } from '../../lib/practices';

/**
 * `PUT /v1/practices/:practiceId/patients/:patientId/sms-consent`: staff (through the review app or
 * the front desk's tooling) or the EHR record that a patient gave or withdrew SMS consent for one
 * number. Machine token required. The change is audited with the staff member (or the calling
 * client) as actor and signalled to the patient's open workflows; it takes effect at once because
 * every send checks the record.
 *
 * An `Idempotency-Key` header makes a retried request a no-op for the audit log (the same key gives
 * the same audit row); without one each request is its own event.
 */

const Params = z.object({
  practiceId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a practice ID'),
  patientId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be a patient ID (letters, digits, . _ -)'),
});

const Body = z.object({
  phone: z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 phone number (+ and 7-15 digits)'),
  consented: z.boolean({ error: 'must be true or false' }),
  /** `staff`: recorded by a person at the practice; `athena`: taken from the EHR's consent flag. */
  source: z.enum(['staff', 'athena']).default('staff'),
  /** Staff ID of the person who took the consent (required when source is staff). */
  staffId: z.string().min(1).max(64).optional(),
});

const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{8,128}$/;

export function consentRoutes(deps: {
  pool: Pool;
  audit: AuditSink;
  signaller: WorkflowSignaller;
  practices: PracticeRegistry;
  requireMachineToken: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  now: () => Date;
}): FastifyPluginAsync {
  return (app) => {
    app.withTypeProvider<ZodTypeProvider>().put(
      '/v1/practices/:practiceId/patients/:patientId/sms-consent',
      // preParsing: after the rate limiter (a route-level onRequest would run before it, leaving
      // token guessing unlimited) and before parsing and validation can answer an anonymous caller.
      { preParsing: deps.requireMachineToken, schema: { params: Params, body: Body } },
      async (request, reply) => {
        const { practiceId, patientId } = request.params;
        const body = request.body;
        const policy = deps.practices.policy(practiceId);
        if (policy === undefined) {
          return reply.code(404).send({ error: 'Not Found', message: `practiceId: no practice ${practiceId}` });
        }
        if (body.source === 'staff') {
          if (body.staffId === undefined) {
            return reply.code(400).send({ error: 'Bad Request', message: 'staffId: is required when source is staff' });
          }
          if (!policy.staff.some((s) => s.id === body.staffId)) {
            return reply
              .code(400)
              .send({ error: 'Bad Request', message: `staffId: not on practice ${practiceId}'s staff list` });
          }
        }
        const header = request.headers['idempotency-key'];
        if (header !== undefined && (typeof header !== 'string' || !IDEMPOTENCY_KEY.test(header))) {
          return reply
            .code(400)
            .send({ error: 'Bad Request', message: 'Idempotency-Key: must be 8-128 letters, digits, . _ : -' });
        }
        const outcome = await applyConsentChange(deps, {
          practiceId,
          patientId,
          phone: body.phone,
          consented: body.consented,
          source: body.source,
          actor:
            body.source === 'staff' && body.staffId !== undefined
              ? { type: 'staff', id: body.staffId }
              : { type: 'source', id: request.machineClient ?? 'api' },
          eventKey: `api:${request.machineClient ?? 'api'}:${typeof header === 'string' ? header : request.id}`,
        });
        return reply.code(200).send({
          practiceId,
          patientId,
          consented: body.consented,
          changed: outcome.changed,
          workflowsSignalled: outcome.workflowsSignalled,
        });
      },
    );
    return Promise.resolve();
  };
}

import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Pool } from 'pg';
import { z } from 'zod';
import type { AuditSink } from '../../lib/audit/types';
import { applyConsentChange } from '../../lib/consent/apply-change';
import type { WorkflowSignaller } from '../../lib/consent/workflow-signaller';
import type { PracticeRegistry } from '../../lib/practices';
import { refuseOutsidePractice, type MachineAuthHook } from '../auth/machine-token';

/**
 * `PUT /v1/practices/:practiceId/patients/:patientId/sms-consent`: staff (through the review app or
 * the front desk's tooling) or the EHR record that a patient gave or withdrew SMS consent for one
 * number. Machine token required, whose sender has the `consent` operation for the practice. The
 * change is audited with the authenticated sender as actor (never a person the caller names: a
 * `staffId` in the body is refused) and signalled to the patient's open workflows; it takes effect
 * at once because every send checks the record.
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
  /**
   * No longer accepted: the actor is who authenticated, not a name the caller fills in. Refused with
   * a message rather than ignored, so an integration that sends it learns what is recorded.
   */
  staffId: z.unknown().optional(),
});

const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{8,128}$/;

export function consentRoutes(deps: {
  pool: Pool;
  audit: AuditSink;
  signaller: WorkflowSignaller;
  practices: PracticeRegistry;
  requireMachineToken: MachineAuthHook;
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
        if (await refuseOutsidePractice(request, reply, practiceId, 'practiceId')) return reply;
        if (body.staffId !== undefined) {
          return reply.code(400).send({
            error: 'Bad Request',
            message: 'staffId: not accepted: the change is recorded as made by the authenticated sender of this token',
          });
        }
        const sender = request.sender?.sender.id;
        if (sender === undefined) throw new Error('consent change reached without an authenticated sender');
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
          actor: { type: 'source', id: sender },
          eventKey: `api:${sender}:${typeof header === 'string' ? header : request.id}`,
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

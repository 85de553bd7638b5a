import formbody from '@fastify/formbody';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { recordDeliveryStatus } from '../../activities/outbox';
import { verifyTwilioSignature } from '../../lib/clients/twilio';
import { deliveryStatusSignal, DELIVERY_STATUSES, type DeliveryStatus } from '../../workflows/definitions';

/** Twilio's callback body is small; 64 KiB bounds it generously. */
const TWILIO_BODY_LIMIT_BYTES = 64 * 1024;

const TWILIO_TO_DELIVERY: Record<string, DeliveryStatus | undefined> = {
  accepted: 'queued',
  scheduled: 'queued',
  queued: 'queued',
  sending: 'queued',
  sent: 'sent',
  delivered: 'delivered',
  read: 'read',
  undelivered: 'undelivered',
  failed: 'failed',
  canceled: 'failed',
};

const StatusCallback = z.looseObject({
  MessageSid: z.string().regex(/^(SM|MM)[0-9a-f]{32}$/i, 'must be a Twilio message SID'),
  MessageStatus: z.string().min(1),
  ErrorCode: z.string().optional(),
});

/**
 * Twilio webhooks. The signature is checked first, over the exact public URL Twilio called, before
 * the body is looked at; a bad or missing signature is a 403 and nothing happens.
 */
export function twilioWebhookRoutes(deps: {
  pool: Pool;
  temporal: Client;
  authToken: string;
  publicBaseUrl: string;
  now: () => Date;
}): FastifyPluginAsync {
  return async (app) => {
    await app.register(formbody, { bodyLimit: TWILIO_BODY_LIMIT_BYTES });

    const verified = (request: FastifyRequest): boolean => {
      const signature = request.headers['x-twilio-signature'];
      return verifyTwilioSignature({
        authToken: deps.authToken,
        signature: typeof signature === 'string' ? signature : undefined,
        url: new URL(request.url, deps.publicBaseUrl).toString(),
        params: (request.body ?? {}) as Record<string, string | string[]>,
      });
    };

    app.withTypeProvider<ZodTypeProvider>().post(
      '/webhooks/twilio/status',
      { bodyLimit: TWILIO_BODY_LIMIT_BYTES },
      async (request, reply) => {
        if (!verified(request)) {
          return reply.code(403).send({ error: 'Forbidden', message: 'X-Twilio-Signature is missing or invalid' });
        }
        const parsed = StatusCallback.safeParse(request.body);
        if (!parsed.success) {
          return reply.code(400).send({ error: 'Bad Request', message: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
        }
        const status = TWILIO_TO_DELIVERY[parsed.data.MessageStatus];
        if (status === undefined || !DELIVERY_STATUSES.includes(status)) {
          return reply.code(400).send({ error: 'Bad Request', message: 'MessageStatus: not a Twilio message status' });
        }
        const owner = await recordDeliveryStatus(deps.pool, 'sms', parsed.data.MessageSid, status, parsed.data.ErrorCode);
        if (owner === undefined) {
          // Not one of ours (or sent before the outbox knew it): acknowledge so Twilio stops retrying.
          request.log.warn({ messageSid: parsed.data.MessageSid }, 'status callback for an unknown message');
          return reply.code(204).send();
        }
        await deps.temporal.workflow.getHandle(owner.workflowId).signal(deliveryStatusSignal, {
          channel: 'sms',
          providerMessageId: parsed.data.MessageSid,
          status,
          errorCode: parsed.data.ErrorCode,
          at: deps.now().toISOString(),
        });
        return reply.code(204).send();
      },
    );
  };
}

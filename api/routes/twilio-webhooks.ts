import formbody from '@fastify/formbody';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Pool } from 'pg';
import { z } from 'zod';
import type { AuditSink } from '../../lib/audit/types';
import { verifyTwilioSignature } from '../../lib/clients/twilio';
import { recordConsentChange, type PendingSignal } from '../../lib/consent/apply-change';
import { inTransaction } from '../../lib/db/transaction';
import { handleInboundSms } from '../../lib/inbound/sms-reply';
import { finishInboundEvent, recordPendingSignals, recordStatusCallbackEvent } from '../../lib/inbound/events';
import type { WorkflowSignaller } from '../../lib/consent/workflow-signaller';
import type { PracticeRegistry } from '../../lib/practices';
import { publicUrl } from '../../lib/public-url';
import { DELIVERY_STATUSES, type DeliveryStatus } from '../../workflows/definitions';
import type { IngestRateLimit } from '../ingest/rate-limit';
import { badRequest } from './bad-request';
import {
  auditAndSignalDeliveryStatus,
  parkUnmatchedDelivery,
  recordProviderDeliveryStatus,
  replayUnmatchedDeliveries,
} from '../../lib/outbox/delivery-reports';

/** Twilio's callback body is small; 64 KiB bounds it generously (an inbound Body is at most 1600 characters). */
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

/** The machine client a verified Twilio signature stands for (the per-client rate-limit key). */
export const TWILIO_WEBHOOK_CLIENT = 'twilio';

/**
 * A status callback can overtake the send it reports on: Twilio posts `queued` right after accepting
 * the create, possibly before the activity has recorded the SID. An unknown SID is looked up again
 * for up to 2 s (every 100 ms): the outbox records the SID within milliseconds of Twilio's answer,
 * and 2 s is far inside Twilio's 15 s callback timeout.
 */
const UNKNOWN_SID_GRACE_MS = 2_000;
const UNKNOWN_SID_POLL_MS = 100;

const messageSid = z.string().regex(/^(SM|MM)[0-9a-f]{32}$/i, 'must be a Twilio message SID');
const e164 = z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 phone number');

const StatusCallback = z.looseObject({
  MessageSid: messageSid,
  MessageStatus: z.string().min(1),
  ErrorCode: z.string().optional(),
  // Not validated as E.164 here: a callback must never be refused for a channel prefix we do not use.
  To: z.string().optional(),
});

/** Twilio's "recipient opted out" code, as a status callback's ErrorCode carries it. */
const CARRIER_OPT_OUT_CODE = '21610';

const InboundMessage = z.looseObject({
  MessageSid: messageSid,
  From: e164,
  To: z.string().min(1, 'is required'),
  // An MMS with only a picture has an empty Body.
  Body: z.string().max(1600, 'must be at most 1600 characters').default(''),
  MessagingServiceSid: z
    .string()
    .regex(/^MG[0-9a-fA-F]{32}$/, 'must be a Messaging Service SID')
    .optional(),
});

export interface TwilioWebhookDeps {
  pool: Pool;
  audit: AuditSink;
  signaller: WorkflowSignaller;
  practices: PracticeRegistry;
  authToken: string;
  publicBaseUrl: string;
  /** To number or Messaging Service SID → practices it serves (TWILIO_INBOUND_PRACTICES). */
  inboundPractices: Map<string, string[]>;
  now: () => Date;
  /**
   * Vendor-webhook rate limits (api/ingest/rate-limit.ts): per IP only for requests whose signature
   * failed, per route for verified ones. Absent: the API's global per-IP limit applies.
   */
  rateLimit?: IngestRateLimit;
}

/** `<Response><Message>…</Message></Response>` with the text XML-escaped, or an empty response. */
export function twiml(message: string | undefined): string {
  const escaped = message?.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c,
  );
  return `<?xml version="1.0" encoding="UTF-8"?><Response>${escaped === undefined ? '' : `<Message>${escaped}</Message>`}</Response>`;
}

/**
 * Twilio webhooks: status callbacks (`/webhooks/twilio/status`) and inbound messages
 * (`/webhooks/twilio/inbound`). The signature is checked first, over the exact public URL Twilio
 * called and the form parameters as received, before anything else looks at the body; a bad or
 * missing signature is a 403 and nothing happens. Each event is recorded under its key before it is
 * acted on, so Twilio's retries and duplicates change nothing twice.
 */
export function twilioWebhookRoutes(deps: TwilioWebhookDeps): FastifyPluginAsync {
  return async (app) => {
    await app.register(formbody, { bodyLimit: TWILIO_BODY_LIMIT_BYTES });

    const verified = (request: FastifyRequest): boolean => {
      const signature = request.headers['x-twilio-signature'];
      return verifyTwilioSignature({
        authToken: deps.authToken,
        signature: typeof signature === 'string' ? signature : undefined,
        // The URL Twilio called: the public base with its path prefix, then the route and query.
        url: publicUrl(deps.publicBaseUrl, request.url),
        params: (request.body ?? {}) as Record<string, string | string[]>,
      });
    };
    // Runs after the form body is parsed and before the per-client limiter, so only a verified
    // request counts as Twilio's; a bad or missing signature is a 403 counted against its address.
    const verifySignature = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      if (!verified(request)) {
        await reply.code(403).send({ error: 'Forbidden', message: 'X-Twilio-Signature is missing or invalid' });
        return;
      }
      request.machineClient = TWILIO_WEBHOOK_CLIENT;
    };
    const routeOptions = {
      bodyLimit: TWILIO_BODY_LIMIT_BYTES,
      preHandler: verifySignature,
      ...deps.rateLimit,
    };

    app.post('/webhooks/twilio/status', routeOptions, async (request, reply) => {
      const parsed = StatusCallback.safeParse(request.body);
      if (!parsed.success) return badRequest(reply, parsed.error);
      const { MessageSid: sid, MessageStatus: twilioStatus, ErrorCode: errorCode } = parsed.data;
      const status = TWILIO_TO_DELIVERY[twilioStatus];
      if (status === undefined || !DELIVERY_STATUSES.includes(status)) {
        return reply.code(400).send({ error: 'Bad Request', message: 'MessageStatus: not a Twilio message status' });
      }

      // Twilio retries and duplicates callbacks; one status of one message is acted on once.
      const eventKey = `status:${sid}:${twilioStatus}`;
      if ((await recordStatusCallbackEvent(deps.pool, eventKey, sid)) === 'processed') return reply.code(204).send();

      // A patient text (`sms`) or an SMS page to staff (`page`): the same SID cannot be both.
      let found = await recordProviderDeliveryStatus(deps.pool, 'twilio', sid, status, errorCode);
      for (let waited = 0; found === undefined && waited < UNKNOWN_SID_GRACE_MS; waited += UNKNOWN_SID_POLL_MS) {
        await new Promise((resolve) => setTimeout(resolve, UNKNOWN_SID_POLL_MS));
        found = await recordProviderDeliveryStatus(deps.pool, 'twilio', sid, status, errorCode);
      }
      if (found === undefined) {
        // Not recorded yet: e.g. sent just before a crash, its SID learned only when the retry
        // reconciles. Parked, and replayed when the outbox records the SID; a retry of this callback
        // is looked at again (the event stays unprocessed). A SID that is never ours stays parked.
        await parkUnmatchedDelivery(deps.pool, {
          provider: 'twilio',
          eventKey,
          providerMessageId: sid,
          status,
          ...(errorCode !== undefined ? { errorCode } : {}),
        });
        // The SID may have been recorded between the last look and the park: replay at once then.
        const replayed =
          (await replayUnmatchedDeliveries(deps, 'sms', sid)) + (await replayUnmatchedDeliveries(deps, 'page', sid));
        request.log.warn({ messageSid: sid, replayed }, 'status callback for an unknown message, parked');
        return reply.code(204).send();
      }
      const { owner, channel } = found;
      // A late, lower-ranked status (sent after delivered) is recorded in the audit but not signalled.
      await auditAndSignalDeliveryStatus(deps, owner, {
        provider: 'twilio',
        channel,
        providerMessageId: sid,
        status,
        ...(errorCode !== undefined ? { errorCode } : {}),
        details: {
          providerMessageId: sid,
          applied: owner.applied,
          ...(errorCode !== undefined ? { errorCode } : {}),
        },
        idempotencyKey: `delivery:sms:${sid}:${twilioStatus}`,
      });
      let owed: PendingSignal[] = [];
      const patientId = owner.patientId;
      const to = parsed.data.To;
      if (
        errorCode === CARRIER_OPT_OUT_CODE &&
        patientId !== undefined &&
        to !== undefined &&
        e164.safeParse(to).success
      ) {
        // The carrier reports the recipient opted out (21610): a revocation like a STOP we received.
        // The consent record, its audit row and the signal owed commit together (the sweeper
        // finishes the signal if it is not sent below).
        owed = await inTransaction(deps.pool, async (client) => {
          const { signal } = await recordConsentChange(
            client,
            {
              practiceId: owner.practiceId,
              patientId,
              phone: to,
              consented: false,
              source: 'carrier',
              actor: { type: 'system', id: 'twilio' },
              eventKey: `twilio-21610:${sid}`,
              rule: 'twilio-21610',
              via: 'sms',
            },
            deps.now().toISOString(),
          );
          await recordPendingSignals(client, 'sms', eventKey, [signal]);
          return [signal];
        });
      }
      await finishInboundEvent(deps, 'sms', eventKey, owed);
      return reply.code(204).send();
    });

    app.post('/webhooks/twilio/inbound', routeOptions, async (request, reply) => {
      const parsed = InboundMessage.safeParse(request.body);
      if (!parsed.success) return badRequest(reply, parsed.error);
      const message = parsed.data;
      const outcome = await handleInboundSms(
        {
          pool: deps.pool,
          audit: deps.audit,
          signaller: deps.signaller,
          practices: deps.practices,
          now: deps.now,
          practicesForSender: ({ to, messagingServiceSid }) =>
            (messagingServiceSid !== undefined ? deps.inboundPractices.get(messagingServiceSid) : undefined) ??
            deps.inboundPractices.get(to),
        },
        {
          messageSid: message.MessageSid,
          from: message.From,
          to: message.To,
          body: message.Body,
          ...(message.MessagingServiceSid !== undefined ? { messagingServiceSid: message.MessagingServiceSid } : {}),
        },
      );
      request.log.info(
        {
          messageSid: message.MessageSid,
          intent: outcome.classification.intent,
          rule: outcome.classification.rule,
          patients: outcome.patients,
          duplicate: outcome.duplicate,
        },
        'inbound SMS',
      );
      return reply.code(200).type('text/xml; charset=utf-8').send(twiml(outcome.reply));
    });
  };
}

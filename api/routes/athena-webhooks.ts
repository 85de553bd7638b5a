import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { verifyAthenaWebhookSignature } from '../../lib/clients/athena';
import type { AthenaWebhookIngest } from '../ingest/athena-webhook-ingest';
import type { IngestRateLimit } from '../ingest/rate-limit';
import type { Sender } from '../../lib/senders';

/** athena's id-only notifications are ~2 KB; 256 KiB bounds memory generously. */
export const ATHENA_WEBHOOK_BODY_LIMIT_BYTES = 256 * 1024;
const ATHENA_WEBHOOK_CONTENT_TYPES = new Set(['application/fhir+json', 'application/json']);
const SIGNATURE_FORMAT = /^sha256=[0-9a-fA-F]{64}$/;
/** Seconds athena should wait before re-delivering after a 503 (its own retry schedule usually decides). */
const RETRY_AFTER_SECONDS = 10;

/** The client name a valid signature authenticates (the key of athena's own rate-limit budget). */
export const ATHENA_WEBHOOK_CLIENT = 'athena-webhook';

/**
 * `POST /webhooks/athena`: athena Event Subscription notifications. The raw body is read as bytes
 * (a parser for every content type, scoped to this plugin) and `X-Hub-Signature` is checked on
 * those exact bytes, in constant time, before anything else: before the content type, before JSON
 * parsing, before any lookup. Then the notification is made durable (one Temporal workflow per
 * event) and acknowledged. A valid signature authenticates athena as the client, so its bursts are
 * limited by its own budget rather than the per-IP one (api/ingest/rate-limit.ts).
 */
export function athenaWebhookRoutes(deps: {
  secret: string | undefined;
  /** The sender the secret authenticates (`athenaWebhook` in the sender registry); absent: 503. */
  sender: Sender | undefined;
  ingest: AthenaWebhookIngest;
  rateLimit: IngestRateLimit;
}): FastifyPluginAsync {
  return (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: ATHENA_WEBHOOK_BODY_LIMIT_BYTES },
      (_req, body, done) => {
        done(null, body);
      },
    );

    const verifySignature = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      if (deps.secret === undefined || deps.secret === '' || deps.sender === undefined) {
        await reply.code(503).send({
          error: 'Service Unavailable',
          message:
            deps.sender === undefined
              ? 'athena webhooks are not configured here (no sender with athenaWebhook in the sender registry)'
              : 'athena webhooks are not configured here (ATHENA_WEBHOOK_SECRET)',
        });
        return;
      }
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const header = request.headers['x-hub-signature'];
      const problem = signatureProblem(header);
      if (problem !== undefined || !verifyAthenaWebhookSignature({ secret: deps.secret, rawBody: raw, header })) {
        request.log.warn({ problem: problem ?? 'mismatch' }, 'athena webhook signature refused');
        await reply.code(401).send({
          error: 'Unauthorized',
          message:
            problem ??
            'X-Hub-Signature does not match the body (HMAC-SHA256 of the raw body with the subscription secret)',
        });
        return;
      }
      request.machineClient = ATHENA_WEBHOOK_CLIENT;
      request.sender = { sender: deps.sender, channel: 'athena-webhook' };
    };

    app.post(
      '/webhooks/athena',
      {
        bodyLimit: ATHENA_WEBHOOK_BODY_LIMIT_BYTES,
        ...deps.rateLimit,
        preHandler: verifySignature,
      },
      async (request, reply) => {
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const mediaType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
        if (!ATHENA_WEBHOOK_CONTENT_TYPES.has(mediaType)) {
          return reply.code(415).send({
            error: 'Unsupported Media Type',
            message: `Content-Type must be application/fhir+json or application/json (got ${mediaType === '' ? 'none' : mediaType})`,
          });
        }
        let body: unknown;
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          return reply.code(400).send({ error: 'Bad Request', message: 'the body is not valid JSON' });
        }

        const sender = deps.sender;
        if (sender === undefined) throw new Error('athena webhook reached without its sender');
        const outcome = await deps.ingest(body, sender);
        switch (outcome.kind) {
          case 'accepted':
            return reply.code(200).send({
              started: outcome.started.length,
              duplicates: outcome.duplicates.length,
              ignored: outcome.ignored,
            });
          case 'refused':
            return reply.code(outcome.status).send({
              error:
                outcome.status === 422 ? 'Unprocessable Entity' : outcome.status === 403 ? 'Forbidden' : 'Bad Request',
              message: outcome.problems.join('; '),
            });
          case 'unavailable':
            return reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS)).send({
              error: 'Service Unavailable',
              message: 'temporarily unable to accept events; deliver again later',
            });
        }
      },
    );
    return Promise.resolve();
  };
}

/** Why the header cannot be a valid signature, or undefined when it has the right shape. */
function signatureProblem(header: string | string[] | undefined): string | undefined {
  if (header === undefined || header === '') return 'missing X-Hub-Signature header';
  if (Array.isArray(header)) return 'X-Hub-Signature must be sent once';
  if (!SIGNATURE_FORMAT.test(header.trim())) return 'X-Hub-Signature must be sha256=<64 hex digits>';
  return undefined;
}

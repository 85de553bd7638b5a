import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Hl7ErrorCode } from '../hl7';
import { isHl7Batch } from '../hl7/batch';
import type { Hl7BatchIngest } from '../ingest/hl7-batch-ingest';
import type { Hl7Ingest } from '../ingest/hl7-ingest';
import type { IngestRateLimit } from '../ingest/rate-limit';

/** HL7 v2 messages are small; 1 MiB leaves room for an embedded PDF while bounding memory. */
export const HL7_HTTP_BODY_LIMIT_BYTES = 1024 * 1024;
const HL7_CONTENT_TYPES = ['application/hl7-v2', 'text/plain'];

/**
 * `POST /v1/hl7`: an ORU^R01 over HTTPS. The answer is always an HL7 ACK unless the client asks for
 * JSON, which also carries the workflow IDs and status URLs. AA → 202; AE/AR → 400 for a message we
 * do not take, 403 for a facility (MSH-4) the token's sender may not send for (the ACK's ERR names
 * MSH-4), 422 for a well-formed one from a facility that is not a practice here (as FHIR and the
 * athena webhook answer an unknown practice), 503 when we cannot take it now.
 */
export function hl7Routes(deps: {
  ingestHl7: Hl7Ingest;
  ingestHl7Batch: Hl7BatchIngest;
  requireMachineToken: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  statusUrl: (workflowId: string) => string;
  /** Per-client limit after the token check (an engine's burst is never refused by the per-IP budget). */
  rateLimit: IngestRateLimit;
}): FastifyPluginAsync {
  return async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      HL7_CONTENT_TYPES,
      { parseAs: 'string', bodyLimit: HL7_HTTP_BODY_LIMIT_BYTES },
      (_req, body, done) => {
        done(null, body);
      },
    );
    // Name what is wrong with the request itself (the framework's defaults say only "Unsupported Media Type").
    app.setErrorHandler((error: FastifyError, request, reply) => {
      if (error.statusCode === 415) {
        return reply.code(415).send({
          error: 'Unsupported Media Type',
          message: `Content-Type must be ${HL7_CONTENT_TYPES.join(' or ')} (got ${request.headers['content-type'] ?? 'none'})`,
        });
      }
      if (error.statusCode === 413) {
        return reply.code(413).send({
          error: 'Payload Too Large',
          message: `the message is larger than the ${HL7_HTTP_BODY_LIMIT_BYTES}-byte limit`,
        });
      }
      throw error;
    });

    app.post(
      '/v1/hl7',
      {
        ...deps.rateLimit,
        preHandler: deps.requireMachineToken,
        bodyLimit: HL7_HTTP_BODY_LIMIT_BYTES,
      },
      async (request, reply) => {
        const text = typeof request.body === 'string' ? request.body : '';
        const from = request.sender;
        if (from === undefined) throw new Error('HL7 ingest reached without an authenticated sender');
        if (isHl7Batch(text)) return answerBatch(await deps.ingestHl7Batch(text, from), request, reply, deps.statusUrl);
        const outcome = await deps.ingestHl7(text, from);
        const status =
          outcome.code === 'AA'
            ? 202
            : outcome.refusedSender === true
              ? 403
              : outcome.problem?.errorCode === Hl7ErrorCode.APPLICATION_INTERNAL_ERROR
                ? 503
                : outcome.problem?.unknownPractice === true
                  ? 422
                  : 400;
        const results = outcome.workflowIds.map((workflowId) => ({
          workflowId,
          statusUrl: deps.statusUrl(workflowId),
        }));
        if (results[0] !== undefined) reply.header('location', results[0].statusUrl);
        if (request.headers.accept?.includes('application/json') === true) {
          return reply.code(status).send({
            ack: outcome.code,
            duplicate: outcome.duplicate,
            error:
              outcome.problem === undefined
                ? undefined
                : { segment: outcome.problem.segment, field: outcome.problem.field, message: outcome.problem.message },
            results,
            hl7Ack: outcome.ack,
          });
        }
        return reply.code(status).type('application/hl7-v2').send(outcome.ack);
      },
    );
  };
}

/**
 * A batch file: every message has its own outcome. 202 when all were accepted, 503 when any could
 * not be taken now (resend the batch: accepted messages are answered AA again, not started twice),
 * 400 for a batch with no message, else 207 (some accepted, some refused: see each).
 */
function answerBatch(
  batch: Awaited<ReturnType<Hl7BatchIngest>>,
  request: FastifyRequest,
  reply: FastifyReply,
  statusUrl: (workflowId: string) => string,
) {
  const { outcomes } = batch;
  const status =
    outcomes.length === 0
      ? 400
      : outcomes.some((o) => o.problem?.errorCode === Hl7ErrorCode.APPLICATION_INTERNAL_ERROR)
        ? 503
        : outcomes.every((o) => o.code === 'AA')
          ? 202
          : 207;
  if (request.headers.accept?.includes('application/json') === true) {
    return reply.code(status).send({
      batch: true,
      messages: outcomes.map((o) => ({
        ack: o.code,
        duplicate: o.duplicate,
        error:
          o.problem === undefined
            ? undefined
            : { segment: o.problem.segment, field: o.problem.field, message: o.problem.message },
        results: o.workflowIds.map((workflowId) => ({ workflowId, statusUrl: statusUrl(workflowId) })),
      })),
      hl7Ack: batch.ack,
    });
  }
  return reply.code(status).type('application/hl7-v2').send(batch.ack);
}

import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { FhirProblem } from '../fhir';
import type { FhirIngest } from '../ingest/fhir-ingest';
import type { IngestRateLimit } from '../ingest/rate-limit';

/** A Bundle of a few reports with contained resources is tens of kilobytes; 1 MiB bounds memory with room to spare. */
export const FHIR_BODY_LIMIT_BYTES = 1024 * 1024;
export const FHIR_CONTENT_TYPES = ['application/fhir+json', 'application/json'];
/** Seconds a client should wait before resending after a 503 (Temporal or the database is down). */
const RETRY_AFTER_SECONDS = 30;

type IssueCode =
  'invalid' | 'required' | 'not-supported' | 'too-long' | 'transient' | 'security' | 'forbidden' | 'exception';

/** A FHIR OperationOutcome, every issue naming where (FHIRPath-like `expression`) and what. */
export function operationOutcome(issues: { code: IssueCode; diagnostics: string; expression?: string }[]) {
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((i) => ({
      severity: i.code === 'transient' ? 'warning' : 'error',
      code: i.code,
      diagnostics: i.diagnostics,
      ...(i.expression !== undefined && i.expression !== '' ? { expression: [i.expression] } : {}),
    })),
  };
}

function problemIssues(problems: FhirProblem[], status: number) {
  return problems.map((p) => ({
    code:
      status === 403
        ? ('forbidden' as const)
        : p.message.startsWith('missing')
          ? ('required' as const)
          : ('invalid' as const),
    diagnostics: p.path === '' ? p.message : `${p.path}: ${p.message}`,
    expression: p.path,
  }));
}

/**
 * `POST /v1/fhir?practice=<practiceId>`: a FHIR R4 DiagnosticReport or Bundle (machine token, as
 * `/v1/hl7`). 202 with the workflow IDs and status URLs once every result is durably with Temporal;
 * errors are OperationOutcomes naming the JSON path: 400 invalid, 403 a practice outside the token's
 * sender's scope, 413 too large, 415 wrong content type, 422 unknown practice, 503 try again later.
 */
export function fhirRoutes(deps: {
  ingestFhir: FhirIngest;
  requireMachineToken: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  statusUrl: (workflowId: string) => string;
  /** Per-client limit after the token check (as `/v1/hl7`). */
  rateLimit: IngestRateLimit;
}): FastifyPluginAsync {
  return (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      FHIR_CONTENT_TYPES,
      { parseAs: 'string', bodyLimit: FHIR_BODY_LIMIT_BYTES },
      (_req, body, done) => {
        done(null, body);
      },
    );

    // Framework refusals (size, content type) answered in FHIR's own error shape.
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const status = error.statusCode ?? 500;
      if (status === 413) {
        return reply
          .code(413)
          .type('application/fhir+json')
          .send(
            operationOutcome([
              { code: 'too-long', diagnostics: `the body is larger than the ${FHIR_BODY_LIMIT_BYTES}-byte limit` },
            ]),
          );
      }
      if (status === 415) {
        return reply
          .code(415)
          .type('application/fhir+json')
          .send(
            operationOutcome([
              {
                code: 'not-supported',
                diagnostics: `Content-Type must be ${FHIR_CONTENT_TYPES.join(' or ')} (got ${request.headers['content-type'] ?? 'none'})`,
              },
            ]),
          );
      }
      if (status < 500) {
        return reply
          .code(status)
          .type('application/fhir+json')
          .send(operationOutcome([{ code: 'invalid', diagnostics: error.message }]));
      }
      request.log.error({ err: error }, 'FHIR request failed');
      return reply
        .code(500)
        .type('application/fhir+json')
        .send(
          operationOutcome([
            { code: 'exception', diagnostics: 'the request could not be processed; it is safe to retry' },
          ]),
        );
    });

    app.post<{ Querystring: { practice?: string } }>(
      '/v1/fhir',
      {
        ...deps.rateLimit,
        preHandler: deps.requireMachineToken,
        bodyLimit: FHIR_BODY_LIMIT_BYTES,
      },
      async (request, reply) => {
        const text = typeof request.body === 'string' ? request.body : '';
        const practice = typeof request.query.practice === 'string' ? request.query.practice : undefined;
        const from = request.sender;
        if (from === undefined) throw new Error('FHIR ingest reached without an authenticated sender');
        const outcome = await deps.ingestFhir(text, practice, from, request.machineClient);
        switch (outcome.kind) {
          case 'accepted': {
            const results = outcome.workflowIds.map((workflowId) => ({
              workflowId,
              statusUrl: deps.statusUrl(workflowId),
            }));
            if (results[0] !== undefined) reply.header('location', results[0].statusUrl);
            return reply.code(202).send({ results, duplicate: outcome.duplicate });
          }
          case 'refused':
            return reply
              .code(outcome.status)
              .type('application/fhir+json')
              .send(operationOutcome(problemIssues(outcome.problems, outcome.status)));
          case 'unavailable':
            return reply
              .code(503)
              .header('retry-after', String(RETRY_AFTER_SECONDS))
              .type('application/fhir+json')
              .send(
                operationOutcome([
                  { code: 'transient', diagnostics: 'temporarily unable to accept results; resend later' },
                ]),
              );
        }
      },
    );
    return Promise.resolve();
  };
}

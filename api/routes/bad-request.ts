import type { FastifyReply } from 'fastify';
import type { z } from 'zod';

/**
 * 400 for a webhook body that fails its schema, naming every field and rule that failed. Field
 * names and rules only, never the values: webhook values are phone numbers and message text.
 * `under` names where the schema's input sits in the body (its issues' paths are relative to it);
 * without it an issue about the whole input is reported against `body`.
 */
export function badRequest(reply: FastifyReply, error: z.ZodError, options: { under?: string } = {}): FastifyReply {
  const { under } = options;
  return reply.code(400).send({
    error: 'Bad Request',
    message: error.issues
      .map((i) => {
        const path = i.path.join('.');
        return `${under === undefined ? path || 'body' : `${under}.${path}`}: ${i.message}`;
      })
      .join('; '),
  });
}

import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Bearer tokens for machine clients (the interface engine posting HL7/FHIR, ops scripts). Tokens
 * are compared as SHA-256 digests with timingSafeEqual, against every configured token, so neither
 * length nor content leaks through timing.
 */
export function createMachineAuth(tokens: Map<string, string>) {
  const digests = [...tokens.entries()].map(([token, name]) => ({ digest: sha256(token), name }));
  return async function requireMachineToken(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (match?.[1] === undefined) {
      await reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'Unauthorized', message: 'missing bearer token (Authorization: Bearer <token>)' });
      return;
    }
    const presented = sha256(match[1]);
    let client: string | undefined;
    for (const candidate of digests) {
      if (timingSafeEqual(candidate.digest, presented)) client = candidate.name;
    }
    if (client === undefined) {
      await reply.code(401).header('www-authenticate', 'Bearer error="invalid_token"').send({
        error: 'Unauthorized',
        message: 'bearer token not recognised',
      });
      return;
    }
    request.machineClient = client;
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

declare module 'fastify' {
  interface FastifyRequest {
    machineClient?: string;
  }
}

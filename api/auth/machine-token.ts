import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthenticatedSender, SenderOperation, SenderRegistry } from '../../lib/senders';

/**
 * Bearer tokens for machine clients (the interface engine posting HL7/FHIR, integrations reading
 * status or recording consent). Tokens are compared as SHA-256 digests with timingSafeEqual,
 * against every configured token, so neither length nor content leaks through timing. A token is
 * only a name; what it may do comes from the sender registry (lib/senders.ts): the operations here,
 * the practices and facilities in each route, so practice A's token never acts for practice B.
 */
export type MachineAuthHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * The bearer check alone: 401 without a known token, else `request.machineClient` is its name. For
 * routes whose tokens are their own set (the metrics scrape); ingest and integration routes use
 * {@link createSenderAuth}, which adds the sender registry's scopes.
 */
export function createMachineAuth(tokens: Map<string, string>): MachineAuthHook {
  const digests = [...tokens.entries()].map(([token, name]) => ({ digest: sha256(token), name }));
  return async (request, reply) => {
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
    // Authenticated: the rate limiter counts this client from here on, whatever the answer.
    request.machineClient = client;
  };
}

/**
 * Machine tokens of LABLOOP_API_TOKENS with the sender registry's scopes: per route, 401 without a
 * known token, 403 when its sender may not perform `operation`; else `request.sender` is set.
 */
export function createSenderAuth(tokens: Map<string, string>, senders: SenderRegistry) {
  const authenticate = createMachineAuth(tokens);
  return function requireMachineToken(operation: SenderOperation): MachineAuthHook {
    return async (request, reply) => {
      await authenticate(request, reply);
      const client = request.machineClient;
      if (reply.sent || client === undefined) return;
      const sender = senders.byTokenName(client);
      if (sender?.operations.includes(operation) !== true) {
        request.log.warn({ client, operation }, 'machine token refused for operation');
        await reply.code(403).send({
          error: 'Forbidden',
          message:
            sender === undefined
              ? `token ${client} is named by no sender in the sender registry: it may do nothing`
              : `sender ${sender.id} may not ${operation}`,
        });
        return;
      }
      request.sender = { sender, channel: 'bearer-token' };
    };
  };
}

/** 403 for a practice outside the authenticated sender's scope; true when it was sent. */
export async function refuseOutsidePractice(
  request: FastifyRequest,
  reply: FastifyReply,
  practiceId: string,
  what: string,
): Promise<boolean> {
  const sender = request.sender?.sender;
  if (sender !== undefined && sender.practices.includes(practiceId)) return false;
  request.log.warn({ sender: sender?.id, practiceId }, 'request refused outside the sender’s practices');
  await reply.code(403).send({
    error: 'Forbidden',
    message: `${what}: sender ${sender?.id ?? '(none)'} may not act for practice ${practiceId.slice(0, 64)}`,
  });
  return true;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

declare module 'fastify' {
  interface FastifyRequest {
    machineClient?: string;
    /** The sender the request authenticated as (bearer token or athena's webhook secret). */
    sender?: AuthenticatedSender;
  }
}

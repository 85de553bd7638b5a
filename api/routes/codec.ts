import cors from '@fastify/cors';
import type { AuditSink } from '../../lib/audit';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';
import type { PrivilegedAuthHook, PrivilegedCaller } from '../auth/privileged';

/**
 * The Temporal codec-server protocol's decode half (`POST /codec/decode`, body and answer
 * `{ payloads: [{ metadata: { key: base64 }, data: base64 }] }`), so authorised operators can read
 * the encrypted payloads of labloop workflows in the Temporal Web UI (`--ui-codec-endpoint`) or the
 * CLI (`temporal workflow show --codec-endpoint … --codec-auth "Bearer <token>"`). It runs the API
 * client's own payload codecs, so it decrypts exactly what the API and the worker encrypt.
 *
 * There is no `/codec/encode`: encrypting is what makes a payload acceptable to the worker (which
 * refuses unencrypted ones, lib/temporal/unencrypted-payload.ts), so an encode endpoint would turn an
 * operator token into a way to forge a `signOff` or `resultReceived`. The UI needs encode only for
 * its write actions (start, signal), which are off in production; labloop's own clients encrypt
 * in-process.
 *
 * Every answer of decode is PHI, so:
 * - callers must authenticate (an operator token or an administrator session; see
 *   api/auth/privileged.ts), before the body is even read;
 * - browsers may call it only from the configured Temporal UI origins (CORS with credentials, so
 *   the UI's "include credentials" setting can carry the session cookie); any other Origin is
 *   refused with 403 rather than merely left without CORS headers;
 * - only the namespace this deployment's keys belong to is served (the UI and CLI send
 *   X-Namespace);
 * - each call is logged with the caller and payload count, never with content.
 */

/**
 * Temporal refuses a payload over 2 MiB (its default blob size limit); base64 makes that 2.7 MiB and
 * the JSON around it a little more, so 4 MiB admits the largest single payload the server accepts.
 */
export const CODEC_BODY_LIMIT_BYTES = 4 * 1024 * 1024;
/** The UI sends one event's payloads per request (a handful); 1000 is far above any real batch. */
const MAX_PAYLOADS_PER_REQUEST = 1000;
/**
 * Browsers may cache a preflight for this long (10 minutes, Chromium's cap is 2 hours), so the UI
 * does not preflight every decode while an operator pages through a history.
 */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/** proto3 JSON bytes: standard or URL-safe base64. */
const base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');

const PayloadJson = z.object({
  metadata: z.record(z.string(), base64).optional(),
  data: base64.optional(),
});
const CodecBody = z.object({
  payloads: z.array(PayloadJson).max(MAX_PAYLOADS_PER_REQUEST, `at most ${MAX_PAYLOADS_PER_REQUEST} payloads`),
});
type PayloadJson = z.infer<typeof PayloadJson>;

export interface CodecRouteDeps {
  /** Where decodes are audited (HIPAA access logging); optional for tests without a database. */
  audit?: Pick<AuditSink, 'append'>;
  /** Run in order to encode, in reverse to decode (as the SDK does). */
  codecs: readonly PayloadCodec[];
  /** The namespace whose payloads these codecs belong to. */
  namespace: string;
  /** Browser origins allowed to call (the Temporal Web UI). */
  allowedOrigins: readonly string[];
  /** Authentication before the body is read (api/auth/privileged.ts). */
  requireOperator: PrivilegedAuthHook;
}

/** Register with `{ prefix: '/codec' }`. */
export function codecRoutes(deps: CodecRouteDeps): FastifyPluginAsync {
  const allowed = new Set(deps.allowedOrigins);
  return async (app) => {
    // Hooks here are preParsing, not onRequest: the rate limiter is a route-level onRequest hook and
    // runs after every onRequest hook of this plugin, so refusals made there would go uncounted.
    // The origin check comes before CORS handling, so a foreign preflight is refused outright too.
    app.addHook('preParsing', async (request, reply, payload) => {
      const origin = request.headers.origin;
      if (origin !== undefined && !allowed.has(origin)) {
        request.log.warn({ route: request.routeOptions.url }, 'codec request from an origin that is not allowed');
        await reply.code(403).send({ error: 'Forbidden', message: 'Origin is not an allowed Temporal UI origin' });
      }
      return payload;
    });
    await app.register(cors, {
      hook: 'preParsing',
      origin: [...allowed],
      credentials: true,
      methods: ['POST'],
      allowedHeaders: ['content-type', 'x-namespace', 'authorization'],
      maxAge: PREFLIGHT_MAX_AGE_SECONDS,
    });

    const route = (operation: 'decode', run: (payloads: Payload[]) => Promise<Payload[]>) =>
      app
        .withTypeProvider<ZodTypeProvider>()
        .post(
          `/${operation}`,
          { preParsing: deps.requireOperator, bodyLimit: CODEC_BODY_LIMIT_BYTES, schema: { body: CodecBody } },
          async (request, reply) => {
            const namespace = request.headers['x-namespace'];
            if (typeof namespace === 'string' && namespace !== deps.namespace) {
              return reply.code(400).send({
                error: 'Bad Request',
                message: `X-Namespace: this codec serves namespace "${deps.namespace}" only`,
              });
            }
            let payloads: Payload[];
            try {
              payloads = await run(request.body.payloads.map(fromJson));
            } catch (err) {
              // Codec errors name the key ID and the problem, never payload content.
              return reply.code(400).send({ error: 'Bad Request', message: `payloads: ${(err as Error).message}` });
            }
            request.log.info(
              { caller: callerId(request.privilegedCaller), operation, payloads: payloads.length },
              'codec request served',
            );
            if (deps.audit !== undefined) {
              // Decrypted payloads are PHI in an operator's browser: audited like any other PHI read.
              const caller = request.privilegedCaller;
              await deps.audit.append({
                occurredAt: new Date().toISOString(),
                practiceId: caller?.kind === 'session' ? caller.practiceId : null,
                actor: { type: 'staff', id: callerId(caller) ?? 'unknown' },
                action: 'phi-access',
                outcome: 'decoded',
                details: { view: 'temporal-codec', payloads: payloads.length, namespace: deps.namespace },
              });
            }
            return reply.header('cache-control', 'no-store').send({ payloads: payloads.map(toJson) });
          },
        );

    route('decode', async (payloads) => {
      let out = payloads;
      for (const codec of [...deps.codecs].reverse()) out = await codec.decode(out);
      return out;
    });
  };
}

function fromJson(payload: PayloadJson): Payload {
  const metadata: Record<string, Uint8Array> = {};
  for (const [key, value] of Object.entries(payload.metadata ?? {})) metadata[key] = Buffer.from(value, 'base64');
  return { metadata, data: Buffer.from(payload.data ?? '', 'base64') };
}

function toJson(payload: Payload): { metadata: Record<string, string>; data: string } {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(payload.metadata ?? {})) {
    if (value !== null && value !== undefined) metadata[key] = Buffer.from(value).toString('base64');
  }
  return { metadata, data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64') };
}

function callerId(caller: PrivilegedCaller | undefined): string | undefined {
  if (caller === undefined) return undefined;
  return caller.kind === 'token' ? `token:${caller.name}` : `staff:${caller.staffId}`;
}

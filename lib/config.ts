import { z } from 'zod';

/**
 * Process configuration, read once from the environment and validated before anything starts.
 * A bad or missing setting stops the process with a message that names it (never a stack trace
 * from deep inside a client later). Temporal connection settings are deliberately not here: they
 * follow @temporalio/envconfig (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
 * TEMPORAL_TLS_*, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE) so Temporal Cloud works by configuration.
 */

const port = z.coerce.number().int().min(0).max(65535);
const optionalUrl = z.url().optional();
const secret = (minLength: number) => z.string().min(minLength, `must be at least ${minLength} characters`);

const ConfigSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

    DATABASE_URL: z.string().startsWith('postgres', 'must be a postgres:// or postgresql:// URL').optional(),

    /** Comma-separated `keyId:base64(32 bytes)`; the first key encrypts, all keys decrypt (rotation). */
    LABLOOP_CODEC_KEYS: z.string().min(1, 'must list at least one keyId:base64key'),
    /** HMAC key that turns source result identifiers into opaque workflow IDs. */
    LABLOOP_ID_SECRET: secret(16),
    LABLOOP_PRACTICES_FILE: z.string().min(1).default('config/practices.sandbox.json'),

    API_HOST: z.string().default('127.0.0.1'),
    API_PORT: port.default(3000),
    MLLP_HOST: z.string().default('127.0.0.1'),
    MLLP_PORT: port.default(2575),
    /** The URL the outside world (Twilio, athena, Spruce) uses to reach the API; signatures cover it. */
    PUBLIC_BASE_URL: z.url(),
    /** Bearer tokens for machine clients of the ingest API, comma-separated `name:token`. */
    LABLOOP_API_TOKENS: z.string().min(1, 'must list at least one name:token'),

    TWILIO_ACCOUNT_SID: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'must look like AC followed by 32 hex digits'),
    TWILIO_AUTH_TOKEN: secret(16),
    TWILIO_MESSAGING_SERVICE_SID: z
      .string()
      .regex(/^MG[0-9a-fA-F]{32}$/)
      .optional(),
    TWILIO_FROM_NUMBER: z
      .string()
      .regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number')
      .optional(),
    /** Only for the sandbox and tests: where the twilio client sends its requests instead of api.twilio.com. */
    TWILIO_API_BASE_URL: optionalUrl,

    SPRUCE_API_TOKEN: secret(8),
    SPRUCE_API_BASE_URL: z.url().default('https://api.sprucehealth.com/v1'),
    SPRUCE_WEBHOOK_SECRET: secret(16),

    ATHENA_BASE_URL: z.url().default('https://api.preview.platform.athenahealth.com'),
    ATHENA_CLIENT_ID: z.string().min(1),
    ATHENA_CLIENT_SECRET: secret(8),
    ATHENA_WEBHOOK_SECRET: secret(16),
  })
  .refine((c) => c.TWILIO_MESSAGING_SERVICE_SID !== undefined || c.TWILIO_FROM_NUMBER !== undefined, {
    message: 'set TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER',
    path: ['TWILIO_MESSAGING_SERVICE_SID'],
  })
  .refine((c) => c.NODE_ENV !== 'production' || c.DATABASE_URL !== undefined, {
    message: 'is required in production (the embedded database is for development and tests only)',
    path: ['DATABASE_URL'],
  })
  .refine((c) => c.NODE_ENV !== 'production' || c.TWILIO_API_BASE_URL === undefined, {
    message: 'must not be set in production: it points the Twilio client away from api.twilio.com',
    path: ['TWILIO_API_BASE_URL'],
  });

export type AppConfig = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parse and validate configuration; throws ConfigError naming every bad or missing setting. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = ConfigSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const name = issue.path.join('.') || '(config)';
    const given = typeof issue.path[0] === 'string' && env[issue.path[0]] !== undefined;
    // Never echo the value: it may be a secret.
    return `${name}: ${given ? issue.message : `missing (${issue.message})`}`;
  });
  throw new ConfigError(problems);
}

/** `name:token` pairs as a map from token to client name. */
export function parseApiTokens(raw: string): Map<string, string> {
  const tokens = new Map<string, string>();
  for (const pair of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const i = pair.indexOf(':');
    if (i <= 0 || i === pair.length - 1) throw new ConfigError([`LABLOOP_API_TOKENS: entry is not name:token`]);
    tokens.set(pair.slice(i + 1), pair.slice(0, i));
  }
  return tokens;
}

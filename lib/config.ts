import { isIP } from 'node:net';
import { z } from 'zod';
import { secretProblems, withheldSecrets, type ProcessRole, type WithheldSecret } from './config-secrets';
import { isSenderList } from './sms/senders';
import { isInternalBindAddress } from './metrics/scrape-access';

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

/**
 * Signed audit anchors outside the database (lib/audit/external-anchor.ts, docs/security.md "Audit
 * log"). The worker signs with AUDIT_SIGNING_KEY_FILE and writes to AUDIT_ANCHOR_S3_URL (an S3
 * bucket with Object Lock) or else AUDIT_ANCHOR_DIR; `npm run audit:verify` reads the same store and
 * checks it with AUDIT_ANCHOR_PUBLIC_KEYS. Also read on their own by the audit scripts
 * (loadAuditAnchorConfig), which need nothing else of the configuration.
 */
const AUDIT_ANCHOR_SETTINGS = {
  /** The Ed25519 private key (PKCS#8 PEM file) that signs anchors; mounted into the worker only. */
  AUDIT_SIGNING_KEY_FILE: z.string().min(1).optional(),
  /** Comma-separated public key PEM files the verifier accepts: the current key and every retired one. */
  AUDIT_ANCHOR_PUBLIC_KEYS: z.string().min(1).optional(),
  /** A directory for signed anchors, on another volume than the database's. */
  AUDIT_ANCHOR_DIR: z.string().min(1).optional(),
  /** `https://host/bucket[/prefix]` (path style) of an S3 bucket with Object Lock enabled. */
  AUDIT_ANCHOR_S3_URL: z.url({ protocol: /^https?$/ }).optional(),
  AUDIT_ANCHOR_S3_REGION: z.string().min(1).default('us-east-1'),
  AUDIT_ANCHOR_S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  AUDIT_ANCHOR_S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  /** How long each anchor object is locked: six years by default (HIPAA's retention of audit records). */
  AUDIT_ANCHOR_S3_RETENTION_DAYS: z.coerce.number().int().min(1).default(2192),
  AUDIT_ANCHOR_S3_LOCK_MODE: z.enum(['COMPLIANCE', 'GOVERNANCE']).default('COMPLIANCE'),
  /** How often the worker seals stray rows, anchors the head and publishes signed anchors. */
  AUDIT_ANCHOR_INTERVAL_MS: z.coerce.number().int().min(100).default(10_000),
};

const AuditAnchorConfigSchema = z
  .object(AUDIT_ANCHOR_SETTINGS)
  .refine((c) => c.AUDIT_ANCHOR_S3_URL === undefined || c.AUDIT_ANCHOR_S3_ACCESS_KEY_ID !== undefined, {
    message: 'is required when AUDIT_ANCHOR_S3_URL is set',
    path: ['AUDIT_ANCHOR_S3_ACCESS_KEY_ID'],
  })
  .refine((c) => c.AUDIT_ANCHOR_S3_URL === undefined || c.AUDIT_ANCHOR_S3_SECRET_ACCESS_KEY !== undefined, {
    message: 'is required when AUDIT_ANCHOR_S3_URL is set',
    path: ['AUDIT_ANCHOR_S3_SECRET_ACCESS_KEY'],
  });
export type AuditAnchorConfig = z.infer<typeof AuditAnchorConfigSchema>;

/** Just the audit anchor settings (for scripts that need no other setting); ConfigError names bad ones. */
export function loadAuditAnchorConfig(env: NodeJS.ProcessEnv = process.env): AuditAnchorConfig {
  const parsed = AuditAnchorConfigSchema.safeParse(withoutEmptyValues(env));
  if (parsed.success) return parsed.data;
  throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
}

const ConfigSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

    DATABASE_URL: z.string().startsWith('postgres', 'must be a postgres:// or postgresql:// URL').optional(),
    /**
     * The schema owner's URL, used only to run migrations. In production the runtime role
     * (DATABASE_URL) is a member of labloop_app and owns nothing, so it cannot alter or disable
     * the audit log's protections; without this setting migrations run as DATABASE_URL (development).
     */
    DATABASE_MIGRATION_URL: z.string().startsWith('postgres', 'must be a postgres:// or postgresql:// URL').optional(),

    /** Comma-separated `keyId:base64(32 bytes)`; the first key encrypts, all keys decrypt (rotation). */
    LABLOOP_CODEC_KEYS: z.string().min(1, 'must list at least one keyId:base64key'),
    /** HMAC key that turns source result identifiers into opaque workflow IDs. */
    LABLOOP_ID_SECRET: secret(16),
    LABLOOP_PRACTICES_FILE: z.string().min(1).default('config/practices.sandbox.json'),
    /** Who may send what (lib/senders.ts, docs/security.md "Senders"); tokens are named there, kept here. */
    LABLOOP_SENDERS_FILE: z.string().min(1).default('config/senders.sandbox.json'),
    /**
     * A prebuilt workflow bundle (scripts/build-workflow-bundle.ts; the image sets it): the worker
     * loads it instead of bundling workflows/ at start. Unset: bundled at start (development).
     */
    LABLOOP_WORKFLOW_BUNDLE: z.string().min(1).optional(),

    API_HOST: z.string().default('127.0.0.1'),
    API_PORT: port.default(3000),
    MLLP_HOST: z.string().default('127.0.0.1'),
    MLLP_PORT: port.default(2575),
    /** A directory watched for dropped HL7 files and batches (api/hl7-drop); absent: no watcher. */
    LABLOOP_HL7_DROP_DIR: z.string().min(1).optional(),
    /**
     * MLLP over mutual TLS (the production default): the listener's certificate and key, and the CA
     * whose client certificates it accepts (a certificate names its sender in the sender registry).
     */
    MLLP_TLS_CERT_FILE: z.string().min(1).optional(),
    MLLP_TLS_KEY_FILE: z.string().min(1).optional(),
    MLLP_TLS_CLIENT_CA_FILE: z.string().min(1).optional(),
    /**
     * Plaintext MLLP instead of TLS: connections only from loopback or the source addresses senders
     * list (`mllp.plaintextSources`). Must be said explicitly in production (the API refuses to start
     * without TLS otherwise, mllpTransportProblem); elsewhere it is what a listener without the TLS files is.
     */
    MLLP_PLAINTEXT: z.stringbool().default(false),
    /** Open MLLP connections at most; one more is closed at once (an engine keeps one or two). */
    MLLP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(10_000).default(64),
    /** The URL the outside world (Twilio, athena, Spruce) uses to reach the API; signatures cover it. */
    PUBLIC_BASE_URL: z.url(),
    /** Bearer tokens for machine clients of the ingest API, comma-separated `name:token`. */
    LABLOOP_API_TOKENS: z.string().min(1, 'must list at least one name:token'),
    /**
     * Bearer tokens of operators allowed to decrypt workflow payloads through the codec endpoint
     * (`temporal ... --codec-auth "Bearer <token>"`), comma-separated `name:token`. Unset: only
     * administrator sessions can.
     */
    LABLOOP_OPS_TOKENS: z.string().optional(),
    /**
     * Operator tokens for scraping `/metrics` on the API and the worker, comma-separated
     * `name:token`. Unset: only listeners bound to an internal interface serve metrics.
     */
    LABLOOP_METRICS_TOKENS: z.string().optional(),
    /** The API's internal metrics listener (`/metrics` without a token); unset port: none. */
    API_METRICS_HOST: z
      .string()
      .default('127.0.0.1')
      .refine(isInternalBindAddress, 'must be a loopback or private address (it serves /metrics without a token)'),
    API_METRICS_PORT: port.optional(),
    /** The worker's own HTTP listener: `/livez`, `/readyz`, `/metrics` (lib/metrics/ops-server.ts). */
    WORKER_HTTP_HOST: z.string().default('127.0.0.1'),
    WORKER_HTTP_PORT: port.default(9464),
    /** The Temporal SDK's runtime metrics exporter, on 127.0.0.1 only; the worker's `/metrics` proxies it. */
    WORKER_TEMPORAL_METRICS_PORT: port.default(9465),
    /**
     * After SIGTERM, how long in-flight activities may run before they are cancelled; the worker
     * gives up on them 5 s later and the process exits 5 s after that, whatever hangs (worker/shutdown.ts).
     */
    WORKER_SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().min(1).max(600).default(20),
    /** Bearer tokens allowed to export the audit log over HTTP, comma-separated `name:token`. */
    LABLOOP_ADMIN_TOKENS: z.string().optional(),
    /**
     * Origins of the Temporal Web UI allowed to call the codec endpoint from a browser (CORS),
     * comma-separated, e.g. `https://temporal.example.org`. Unset: no browser origin is allowed.
     */
    TEMPORAL_UI_ORIGINS: z
      .string()
      .optional()
      .refine((v) => v === undefined || parseOrigins(v) !== undefined, {
        message: 'must be comma-separated origins such as https://temporal.example.org (scheme, host, optional port)',
      }),
    /** Requests per client per minute on every rate-limited route. */
    API_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(600),
    /**
     * Which proxies in front of the API to believe about the client's address (X-Forwarded-For), so
     * the rate limit counts per client rather than per load balancer: `false` (default, direct
     * exposure), a hop count such as `1`, or comma-separated proxy addresses/CIDRs. `true` (believe
     * anyone) is refused: every client could then pick its own rate-limit key.
     */
    TRUST_PROXY: z
      .string()
      .default('false')
      .transform((raw, ctx): TrustProxy => {
        const parsed = parseTrustProxy(raw);
        if (parsed !== undefined) return parsed;
        ctx.addIssue({
          code: 'custom',
          message: 'must be false, a hop count (e.g. 1), or comma-separated proxy IPs/CIDRs (e.g. 10.0.0.0/8)',
        });
        return z.NEVER;
      }),

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
    /**
     * The sender's throughput in SMS segments per second (1 for a US long code on a low-volume 10DLC
     * campaign); enforced as the SMS task queue's server-side rate limit (worker/sms-worker.ts).
     */
    TWILIO_SENDER_SEGMENTS_PER_SECOND: z.coerce.number().positive().max(1000).default(1),
    /**
     * More senders, each with its own throughput and SMS task queue (lib/sms/senders.ts):
     * `<id>=<MG SID or E.164>:<segments per second>`, comma-separated. Practices choose one with
     * `policy.smsSenderId`; the default sender is the one above.
     */
    TWILIO_SENDERS: z
      .string()
      .refine(isSenderList, 'must be comma-separated <id>=<MG SID or E.164 number>:<segments per second>')
      .optional(),
    /**
     * Which practices an inbound number serves, comma-separated `<To number or MG SID>=<practiceId>`.
     * Unset: inbound texts are matched to patients of every practice by the sender's number alone.
     */
    TWILIO_INBOUND_PRACTICES: z
      .string()
      .regex(
        /^(\+[1-9]\d{6,14}|MG[0-9a-fA-F]{32})=[A-Za-z0-9_-]{1,64}(,(\+[1-9]\d{6,14}|MG[0-9a-fA-F]{32})=[A-Za-z0-9_-]{1,64})*$/,
        'must be comma-separated <E.164 number or MG SID>=<practiceId>',
      )
      .optional(),

    SPRUCE_API_TOKEN: secret(8),
    SPRUCE_API_BASE_URL: z.url().default('https://api.sprucehealth.com/v1'),
    SPRUCE_WEBHOOK_SECRET: secret(16),
    /** The org's Spruce Link (secure internal endpoint ID) result threads are sent from. Unset: no secure threads. */
    SPRUCE_INTERNAL_ENDPOINT_ID: z.string().min(1).optional(),

    ATHENA_BASE_URL: z.url().default('https://api.preview.platform.athenahealth.com'),
    ATHENA_CLIENT_ID: z.string().min(1),
    ATHENA_CLIENT_SECRET: secret(8),
    ATHENA_WEBHOOK_SECRET: secret(16),
    /** Seconds between polls of athena's lab-result changed-data feed (one Temporal Schedule per practice). */
    ATHENA_POLL_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
    /**
     * labloop practice IDs whose athena feed is polled, comma-separated. Unset: every practice in the
     * registry with an athenaPracticeId. `none`: no polling (webhooks only).
     */
    ATHENA_POLL_PRACTICES: z
      .string()
      .regex(/^(none|[A-Za-z0-9_-]{1,64}(,[A-Za-z0-9_-]{1,64})*)$/, 'must be comma-separated practice IDs, or none')
      .optional(),

    /** Review-app single sign-on (OpenID Connect): the identity provider's issuer URL. Unset: no SSO. */
    OIDC_ISSUER_URL: optionalUrl,
    OIDC_CLIENT_ID: z.string().min(1).optional(),
    OIDC_CLIENT_SECRET: secret(16).optional(),
    /** Signs the review app's cookies and keys its CSRF tokens. */
    SESSION_SECRET: secret(32).optional(),
    /** Minutes without activity after which a review-app session ends (automatic logoff). */
    SESSION_IDLE_MINUTES: z.coerce.number().int().min(1).max(240).default(15),
    /** Sandbox only: a page to sign in as any configured staff member without SSO. Refused in production. */
    LABLOOP_DEMO_LOGIN: z.stringbool().default(false),

    ...AUDIT_ANCHOR_SETTINGS,
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
  })
  .refine((c) => c.NODE_ENV !== 'production' || c.PUBLIC_BASE_URL.startsWith('https:'), {
    message: 'must be an https:// URL in production (webhook signatures and session cookies depend on it)',
    path: ['PUBLIC_BASE_URL'],
  })
  .refine((c) => c.NODE_ENV !== 'production' || !c.LABLOOP_DEMO_LOGIN, {
    message: 'must not be enabled in production: it lets anyone sign in to the review app as any staff member',
    path: ['LABLOOP_DEMO_LOGIN'],
  })
  .refine(
    (c) =>
      [c.MLLP_TLS_CERT_FILE, c.MLLP_TLS_KEY_FILE, c.MLLP_TLS_CLIENT_CA_FILE].every((f) => f === undefined) ||
      [c.MLLP_TLS_CERT_FILE, c.MLLP_TLS_KEY_FILE, c.MLLP_TLS_CLIENT_CA_FILE].every((f) => f !== undefined),
    {
      message: 'MLLP_TLS_CERT_FILE, MLLP_TLS_KEY_FILE and MLLP_TLS_CLIENT_CA_FILE go together: set all three or none',
      path: ['MLLP_TLS_CLIENT_CA_FILE'],
    },
  )
  .refine((c) => !c.MLLP_PLAINTEXT || c.MLLP_TLS_CERT_FILE === undefined, {
    message: 'cannot be true while MLLP_TLS_CERT_FILE is set: the listener is either TLS or plaintext',
    path: ['MLLP_PLAINTEXT'],
  })
  .refine((c) => c.OIDC_ISSUER_URL === undefined || c.OIDC_CLIENT_ID !== undefined, {
    message: 'is required when OIDC_ISSUER_URL is set',
    path: ['OIDC_CLIENT_ID'],
  })
  .refine((c) => c.OIDC_ISSUER_URL === undefined || c.OIDC_CLIENT_SECRET !== undefined, {
    message: 'is required when OIDC_ISSUER_URL is set',
    path: ['OIDC_CLIENT_SECRET'],
  })
  .refine(
    (c) => c.NODE_ENV !== 'production' || c.OIDC_ISSUER_URL === undefined || c.OIDC_ISSUER_URL.startsWith('https:'),
    {
      message: 'must be an https:// URL in production',
      path: ['OIDC_ISSUER_URL'],
    },
  )
  .refine((c) => c.AUDIT_ANCHOR_S3_URL === undefined || c.AUDIT_ANCHOR_S3_ACCESS_KEY_ID !== undefined, {
    message: 'is required when AUDIT_ANCHOR_S3_URL is set',
    path: ['AUDIT_ANCHOR_S3_ACCESS_KEY_ID'],
  })
  .refine((c) => c.AUDIT_ANCHOR_S3_URL === undefined || c.AUDIT_ANCHOR_S3_SECRET_ACCESS_KEY !== undefined, {
    message: 'is required when AUDIT_ANCHOR_S3_URL is set',
    path: ['AUDIT_ANCHOR_S3_SECRET_ACCESS_KEY'],
  })
  .refine((c) => (c.OIDC_ISSUER_URL === undefined && !c.LABLOOP_DEMO_LOGIN) || c.SESSION_SECRET !== undefined, {
    message: 'is required when the review app has a sign-in (OIDC_ISSUER_URL or LABLOOP_DEMO_LOGIN)',
    path: ['SESSION_SECRET'],
  });

export type AppConfig = z.infer<typeof ConfigSchema>;

/** Every setting loadConfig reads (docker-compose.yml must forward each one; test/unit/compose-file.test.ts checks). */
export const CONFIG_SETTINGS = Object.keys(ConfigSchema.shape) as (keyof AppConfig)[];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** A process's configuration: the secrets it does not use are absent (lib/config-secrets.ts). */
export type ProcessConfig<R extends ProcessRole> = Omit<AppConfig, WithheldSecret<R>> &
  Partial<Pick<AppConfig, WithheldSecret<R>>>;

/**
 * Stands in, during validation only, for a secret the process does not use, so that the rules about
 * other settings hold as written; it never reaches the returned configuration.
 */
const WITHHELD = 'withheld:not-used-by-this-process-0000000000';

/**
 * Parse and validate configuration; throws ConfigError naming every bad or missing setting.
 * An empty value counts as unset: docker compose passes `${X:-}` for an optional setting the
 * operator left out, and that must mean "use the default", not "invalid".
 * With a `role` (the API, the worker, a job), only the secrets that process uses are required, and
 * only those are returned: the others are dropped even when set.
 */
export function loadConfig(env?: NodeJS.ProcessEnv): AppConfig;
export function loadConfig<R extends ProcessRole>(env: NodeJS.ProcessEnv, role: R): ProcessConfig<R>;
export function loadConfig(env: NodeJS.ProcessEnv = process.env, role?: ProcessRole): AppConfig {
  const given = withoutEmptyValues(env);
  const withheld: string[] = role === undefined ? [] : withheldSecrets(role);
  for (const name of withheld) delete given[name];
  const parsed = ConfigSchema.safeParse({ ...given, ...Object.fromEntries(withheld.map((name) => [name, WITHHELD])) });
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => {
        const name = issue.path.join('.') || '(config)';
        const isGiven = typeof issue.path[0] === 'string' && given[issue.path[0]] !== undefined;
        // Never echo the value: it may be a secret.
        return `${name}: ${isGiven ? issue.message : `missing (${issue.message})`}`;
      });
  problems.push(...secretProblems(given), ...demoLoginProblems(given));
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const config: Record<string, unknown> = { ...parsed.data };
  for (const name of withheld) delete config[name];
  return config as AppConfig;
}

/**
 * The demo sign-in ("sign in as any staff member") needs NODE_ENV=development said out loud: an
 * unset NODE_ENV (which defaults to development for everything else) or `test` does not enable it.
 */
function demoLoginProblems(given: Readonly<Record<string, string>>): string[] {
  const on = given.LABLOOP_DEMO_LOGIN !== undefined && z.stringbool().safeParse(given.LABLOOP_DEMO_LOGIN).data === true;
  if (!on || given.NODE_ENV === 'development' || given.NODE_ENV === 'production') return [];
  return [
    `LABLOOP_DEMO_LOGIN: needs NODE_ENV=development set explicitly (NODE_ENV is ${given.NODE_ENV ?? 'unset'}); it lets anyone sign in as any staff member`,
  ];
}

/** The environment without unset or empty (`''`) values. */
export function withoutEmptyValues(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== '') out[key] = value;
  return out;
}

/** What Fastify's `trustProxy` takes: nobody, a hop count, or the proxies' addresses and CIDRs. */
export type TrustProxy = false | number | string[];

/** TRUST_PROXY as Fastify's `trustProxy`, or undefined when it is not valid. */
export function parseTrustProxy(raw: string): TrustProxy | undefined {
  const value = raw.trim();
  if (value === 'false') return false;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    return hops === 0 ? false : hops;
  }
  const entries = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0) return undefined;
  for (const entry of entries) {
    const [address = '', prefix, ...rest] = entry.split('/');
    const family = isIP(address);
    if (family === 0 || rest.length > 0) return undefined;
    if (prefix !== undefined) {
      const max = family === 4 ? 32 : 128;
      if (!/^\d+$/.test(prefix) || Number(prefix) > max) return undefined;
    }
  }
  return entries;
}

/**
 * Why the API must not start its MLLP listener as configured, or undefined: in production MLLP is
 * mutual TLS unless MLLP_PLAINTEXT=true says plaintext from listed sources is intended. Checked by
 * the API at start, not by the schema: the worker reads the same configuration and runs no MLLP.
 */
export function mllpTransportProblem(
  c: Pick<AppConfig, 'NODE_ENV' | 'MLLP_PLAINTEXT' | 'MLLP_TLS_CERT_FILE'>,
): string | undefined {
  if (c.NODE_ENV !== 'production' || c.MLLP_PLAINTEXT || c.MLLP_TLS_CERT_FILE !== undefined) return undefined;
  return 'MLLP_TLS_CERT_FILE: is required in production (MLLP is mutual TLS: set MLLP_TLS_CERT_FILE, MLLP_TLS_KEY_FILE and MLLP_TLS_CLIENT_CA_FILE), unless MLLP_PLAINTEXT=true says plaintext from the sources senders list is intended';
}

/** `name:token` pairs as a map from token to client name; `variable` names the setting in errors. */
export function parseApiTokens(raw: string, variable = 'LABLOOP_API_TOKENS'): Map<string, string> {
  const tokens = new Map<string, string>();
  for (const pair of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const i = pair.indexOf(':');
    if (i <= 0 || i === pair.length - 1) throw new ConfigError([`${variable}: entry is not name:token`]);
    tokens.set(pair.slice(i + 1), pair.slice(0, i));
  }
  return tokens;
}

/**
 * Comma-separated browser origins (`scheme://host[:port]`, no path) in their canonical form, or
 * undefined when one of them is not an origin. An empty string is no origins.
 */
export function parseOrigins(raw: string): string[] | undefined {
  const origins: string[] = [];
  for (const entry of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      return undefined;
    }
    const bare = url.pathname === '/' && url.search === '' && url.hash === '' && url.username === '';
    if (!['http:', 'https:'].includes(url.protocol) || !bare || entry.endsWith('/')) return undefined;
    origins.push(url.origin);
  }
  return origins;
}

/** ATHENA_POLL_PRACTICES as a list: undefined = every athena practice, [] = none. */
export function athenaPollPractices(config: Pick<AppConfig, 'ATHENA_POLL_PRACTICES'>): string[] | undefined {
  const raw = config.ATHENA_POLL_PRACTICES;
  if (raw === undefined) return undefined;
  return raw === 'none' ? [] : raw.split(',');
}

/** `TWILIO_INBOUND_PRACTICES` as a map from To number or Messaging Service SID to the practices it serves. */
export function parseInboundPractices(raw: string | undefined): Map<string, string[]> {
  const routes = new Map<string, string[]>();
  for (const pair of (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [sender = '', practiceId = ''] = pair.split('=');
    routes.set(sender, [...(routes.get(sender) ?? []), practiceId]);
  }
  return routes;
}

/**
 * Start-up checks on the secrets in the environment, beyond what each setting's own schema says:
 * labloop's own tokens are long and varied enough to be random, no setting still holds a placeholder
 * from deploy/env.example, and no token or secret is used twice (two token sets, two names in one
 * set, or two settings), so one leaked value never opens two doors. Every problem names the setting
 * (and the token's client name), never the value.
 */

/** `name:token` lists of bearer tokens labloop issues itself. */
export const TOKEN_LIST_SETTINGS = [
  'LABLOOP_API_TOKENS',
  'LABLOOP_OPS_TOKENS',
  'LABLOOP_ADMIN_TOKENS',
  'LABLOOP_METRICS_TOKENS',
] as const;

/** Single secrets labloop's operator generates (not ones a vendor issues in its own format). */
export const GENERATED_SECRET_SETTINGS = ['LABLOOP_ID_SECRET', 'SESSION_SECRET'] as const;

/** Secrets issued by a vendor or identity provider: checked for placeholders and reuse, not for form. */
export const ISSUED_SECRET_SETTINGS = [
  'TWILIO_AUTH_TOKEN',
  'SPRUCE_API_TOKEN',
  'SPRUCE_WEBHOOK_SECRET',
  'ATHENA_CLIENT_SECRET',
  'ATHENA_WEBHOOK_SECRET',
  'OIDC_CLIENT_SECRET',
  // The worker's S3 credentials for the signed audit anchors (lib/audit/anchor-store-s3.ts).
  'AUDIT_ANCHOR_S3_SECRET_ACCESS_KEY',
] as const;

/** Every secret setting labloop reads. */
export const SECRET_SETTINGS = [
  'LABLOOP_CODEC_KEYS',
  ...TOKEN_LIST_SETTINGS,
  ...GENERATED_SECRET_SETTINGS,
  ...ISSUED_SECRET_SETTINGS,
] as const;
export type SecretSetting = (typeof SECRET_SETTINGS)[number];

/**
 * The secrets each labloop process uses. docker-compose.yml gives each container exactly these
 * (test/unit/compose-file.test.ts), and `loadConfig(env, role)` neither requires nor returns the others,
 * so a leaked worker environment holds no API bearer token, and the API holds no athena client secret.
 */
export const PROCESS_SECRETS = {
  api: [
    'LABLOOP_CODEC_KEYS',
    'LABLOOP_ID_SECRET',
    'LABLOOP_API_TOKENS',
    'LABLOOP_OPS_TOKENS',
    'LABLOOP_ADMIN_TOKENS',
    // Scrapers of /metrics (the API's and the worker's own port).
    'LABLOOP_METRICS_TOKENS',
    'SESSION_SECRET',
    'OIDC_CLIENT_SECRET',
    // Twilio's auth token checks X-Twilio-Signature on callbacks; Spruce's API token resolves replies.
    'TWILIO_AUTH_TOKEN',
    'SPRUCE_API_TOKEN',
    'SPRUCE_WEBHOOK_SECRET',
    'ATHENA_WEBHOOK_SECRET',
  ],
  worker: [
    'LABLOOP_CODEC_KEYS',
    'LABLOOP_ID_SECRET',
    'TWILIO_AUTH_TOKEN',
    'SPRUCE_API_TOKEN',
    'ATHENA_CLIENT_SECRET',
    'LABLOOP_METRICS_TOKENS',
    // It alone publishes the signed audit anchors.
    'AUDIT_ANCHOR_S3_SECRET_ACCESS_KEY',
  ],
  /** Subscribes athena's feeds and writes the poll schedules (encrypted arguments). */
  'athena-schedule': ['LABLOOP_CODEC_KEYS', 'ATHENA_CLIENT_SECRET'],
} as const satisfies Record<string, readonly SecretSetting[]>;
export type ProcessRole = keyof typeof PROCESS_SECRETS;
/** The secrets a process does not use: not required, not returned. */
export type WithheldSecret<R extends ProcessRole> = Exclude<SecretSetting, (typeof PROCESS_SECRETS)[R][number]>;

export function withheldSecrets<R extends ProcessRole>(role: R): WithheldSecret<R>[] {
  const used: readonly string[] = PROCESS_SECRETS[role];
  return SECRET_SETTINGS.filter((s): s is WithheldSecret<R> => !used.includes(s));
}

export const MIN_TOKEN_LENGTH = 32;
/**
 * Shannon entropy per character (over the value's own characters) below which a value is a pattern,
 * not random: 32 random hex digits measure about 3.5 bits (rarely under 2.9), base64 about 4.6; "aaaa…" or "abab…" 0–1.
 * A heuristic: it catches typed and repeated values, it cannot prove randomness.
 */
const MIN_BITS_PER_CHARACTER = 2.5;

/**
 * The placeholders deploy/env.example ships (test/unit/config-secrets.test.ts keeps this list and
 * the file in step), and the spellings people type in their place.
 */
export const PLACEHOLDER_SECRETS: readonly string[] = ['CHANGE-ME-LONG-RANDOM'];
const PLACEHOLDER_PATTERN = /change[-_ ]?me|replace[-_ ]?me|placeholder|^(secret|password|token|example|x+)$/i;

export function isPlaceholder(value: string): boolean {
  return PLACEHOLDER_SECRETS.includes(value) || PLACEHOLDER_PATTERN.test(value);
}

function bitsPerCharacter(value: string): number {
  const counts = new Map<string, number>();
  for (const ch of value) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  const length = [...value].length;
  let bits = 0;
  for (const count of counts.values()) bits -= (count / length) * Math.log2(count / length);
  return bits;
}

/** Why `value` is not a strong generated token, or undefined when it is. */
export function weakTokenReason(value: string): string | undefined {
  if (isPlaceholder(value)) return 'is a placeholder (from deploy/env.example or like it); generate a random one';
  if ([...value].length < MIN_TOKEN_LENGTH) return `must be at least ${MIN_TOKEN_LENGTH} random characters`;
  if (bitsPerCharacter(value) < MIN_BITS_PER_CHARACTER) {
    return `does not look random (too few distinct characters); use at least ${MIN_TOKEN_LENGTH} random characters, e.g. openssl rand -hex 32`;
  }
  return undefined;
}

interface NamedSecret {
  /** How a problem names it: the setting, and for a token list the client's name. */
  label: string;
  value: string;
}

/** `name:token` entries of a token list (empty entries skipped; malformed ones are parseApiTokens's to refuse). */
function tokenEntries(setting: string, raw: string): NamedSecret[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((pair) => {
      const i = pair.indexOf(':');
      return i <= 0 ? undefined : { label: `${setting} (${pair.slice(0, i)})`, value: pair.slice(i + 1) };
    })
    .filter((entry): entry is NamedSecret => entry !== undefined && entry.value !== '');
}

/**
 * Problems with the secrets in `env` (unset and empty values already removed), each starting with
 * the setting's name, as ConfigError lists them.
 */
export function secretProblems(env: Readonly<Record<string, string>>): string[] {
  const problems: string[] = [];
  const seen: NamedSecret[] = [];

  for (const setting of TOKEN_LIST_SETTINGS) {
    const raw = env[setting];
    if (raw === undefined) continue;
    for (const entry of tokenEntries(setting, raw)) {
      const reason = weakTokenReason(entry.value);
      if (reason !== undefined) problems.push(`${entry.label}: token ${reason}`);
      seen.push(entry);
    }
  }
  for (const setting of GENERATED_SECRET_SETTINGS) {
    const value = env[setting];
    if (value === undefined) continue;
    const reason = weakTokenReason(value);
    if (reason !== undefined) problems.push(`${setting}: ${reason}`);
    seen.push({ label: setting, value });
  }
  for (const setting of ISSUED_SECRET_SETTINGS) {
    const value = env[setting];
    if (value === undefined) continue;
    if (isPlaceholder(value)) problems.push(`${setting}: is a placeholder; set the value the vendor issued`);
    seen.push({ label: setting, value });
  }

  // The same value twice: report each later use against the first, naming both places.
  const firstUse = new Map<string, string>();
  for (const { label, value } of seen) {
    const first = firstUse.get(value);
    if (first === undefined) firstUse.set(value, label);
    else problems.push(`${label}: is the same token as ${first}; every setting and every client needs its own`);
  }
  return problems;
}

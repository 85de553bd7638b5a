import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateCodecKey } from '../lib/temporal/encryption-codec';

/**
 * Secrets for the sandbox: generated on first run, kept in .data/ so a restarted sandbox can still
 * decrypt the workflows it started. Never used outside the sandbox and tests.
 */
export interface SandboxSecrets {
  codecKeys: string;
  idSecret: string;
  /** The lab interface engine's token (sender riverside-lab-engine in config/senders.sandbox.json). */
  apiToken: string;
  /** athena's outbound ORU interface's token (sender riverside-athena-oru: its results arrive signed). */
  athenaOruToken: string;
  /** Operators' token for the codec endpoint (`temporal ... --codec-auth "Bearer <token>"`). */
  opsToken: string;
  /** Administrators' token for `GET /v1/audit/export`. */
  adminToken: string;
  /** Scrapers' token for `/metrics` on the API and the worker. */
  metricsToken: string;
  twilioAccountSid: string;
  twilioAuthToken: string;
  twilioMessagingServiceSid: string;
  spruceToken: string;
  spruceWebhookSecret: string;
  athenaClientId: string;
  athenaClientSecret: string;
  athenaWebhookSecret: string;
  sessionSecret: string;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

export function generateSandboxSecrets(): SandboxSecrets {
  return {
    codecKeys: generateCodecKey(`sandbox-${hex(3)}`),
    idSecret: hex(24),
    apiToken: hex(24),
    athenaOruToken: hex(24),
    opsToken: hex(24),
    adminToken: hex(24),
    metricsToken: hex(24),
    twilioAccountSid: `AC${hex(16)}`,
    twilioAuthToken: hex(16),
    twilioMessagingServiceSid: `MG${hex(16)}`,
    spruceToken: hex(20),
    spruceWebhookSecret: hex(24),
    athenaClientId: `sandbox-${hex(4)}`,
    athenaClientSecret: hex(20),
    athenaWebhookSecret: hex(24),
    sessionSecret: hex(32),
  };
}

export function loadOrCreateSandboxSecrets(dataDir: string): SandboxSecrets {
  const file = path.join(dataDir, 'sandbox-secrets.json');
  if (existsSync(file)) {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<SandboxSecrets>;
    // Fill in anything a newer version added, keep what exists.
    const merged = { ...generateSandboxSecrets(), ...stored };
    writeFileSync(file, JSON.stringify(merged, null, 2), { mode: 0o600 });
    return merged;
  }
  mkdirSync(dataDir, { recursive: true });
  const secrets = generateSandboxSecrets();
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

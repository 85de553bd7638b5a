import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ConfigError, loadConfig, mllpTransportProblem } from '../../lib/config';
import { PROJECT_ROOT } from '../../lib/tools';

/** Configuration is validated once at start and a bad setting is named, never echoed. */
const VALID: NodeJS.ProcessEnv = {
  LABLOOP_CODEC_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
  LABLOOP_ID_SECRET: 'id-secret-5f0c1a9e7b3d2c4f6a8e0b1d3f5a7c9e',
  PUBLIC_BASE_URL: 'https://labloop.example.org',
  LABLOOP_API_TOKENS: 'engine:token-0123456789abcdef-9c2e4a6b8d0f1e3a',
  TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
  TWILIO_AUTH_TOKEN: 'twilio-token-0123456789',
  TWILIO_MESSAGING_SERVICE_SID: `MG${'b'.repeat(32)}`,
  SPRUCE_API_TOKEN: 'spruce-token-0123',
  SPRUCE_WEBHOOK_SECRET: 'spruce-secret-0123456789',
  ATHENA_CLIENT_ID: 'client',
  ATHENA_CLIENT_SECRET: 'athena-secret-0123',
  ATHENA_WEBHOOK_SECRET: 'athena-webhook-0123456789',
};

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration', () => {
  it('MLLP is mutual TLS in production unless plaintext is said explicitly; the TLS files go together', () => {
    const production = { NODE_ENV: 'production' as const, MLLP_PLAINTEXT: false, MLLP_TLS_CERT_FILE: undefined };
    assert.match(mllpTransportProblem(production) ?? '', /MLLP_TLS_CERT_FILE: is required in production/);
    assert.equal(mllpTransportProblem({ ...production, MLLP_PLAINTEXT: true }), undefined);
    assert.equal(mllpTransportProblem({ ...production, MLLP_TLS_CERT_FILE: '/tls/server.crt' }), undefined);
    assert.equal(mllpTransportProblem({ ...production, NODE_ENV: 'development' }), undefined);
    assert.deepEqual(
      problemsOf({ ...VALID, MLLP_TLS_CERT_FILE: '/tls/server.crt' }).filter((p) => p.startsWith('MLLP_')),
      [
        'MLLP_TLS_CLIENT_CA_FILE: missing (MLLP_TLS_CERT_FILE, MLLP_TLS_KEY_FILE and MLLP_TLS_CLIENT_CA_FILE go together: set all three or none)',
      ],
    );
    assert.ok(
      problemsOf({
        ...VALID,
        MLLP_TLS_CERT_FILE: '/a',
        MLLP_TLS_KEY_FILE: '/b',
        MLLP_TLS_CLIENT_CA_FILE: '/c',
        MLLP_PLAINTEXT: 'true',
      }).some((p) => p.startsWith('MLLP_PLAINTEXT: cannot be true')),
    );
  });

  it('accepts a complete development configuration with defaults filled in', () => {
    const config = loadConfig(VALID);
    assert.equal(config.API_PORT, 3000);
    assert.equal(config.NODE_ENV, 'development');
  });

  it('names every missing setting at once', () => {
    const problems = problemsOf({});
    for (const name of [
      'LABLOOP_CODEC_KEYS',
      'LABLOOP_ID_SECRET',
      'PUBLIC_BASE_URL',
      'TWILIO_ACCOUNT_SID',
      'ATHENA_CLIENT_ID',
    ]) {
      assert.ok(
        problems.some((p) => p.startsWith(`${name}: missing`)),
        `${name} named in: ${problems.join('; ')}`,
      );
    }
  });

  it('names a bad setting without echoing its value (it may be a secret)', () => {
    const secret = 'short';
    const problems = problemsOf({ ...VALID, TWILIO_AUTH_TOKEN: secret, API_PORT: '70000' });
    assert.ok(problems.some((p) => p.startsWith('TWILIO_AUTH_TOKEN:')));
    assert.ok(problems.some((p) => p.startsWith('API_PORT:')));
    assert.ok(problems.every((p) => !p.includes(secret)));
  });

  it('refuses sandbox-only settings in production and requires a real database there', () => {
    const problems = problemsOf({ ...VALID, NODE_ENV: 'production', TWILIO_API_BASE_URL: 'http://127.0.0.1:4010' });
    assert.ok(problems.some((p) => p.startsWith('DATABASE_URL:')));
    assert.ok(problems.some((p) => p.startsWith('TWILIO_API_BASE_URL:')));
  });

  it('treats an empty value as unset, as docker compose passes `${X:-}` for a setting left out', () => {
    const config = loadConfig({
      ...VALID,
      TWILIO_FROM_NUMBER: '',
      TWILIO_INBOUND_PRACTICES: '',
      ATHENA_POLL_PRACTICES: '',
      LABLOOP_OPS_TOKENS: '',
      OIDC_ISSUER_URL: '',
      TEMPORAL_UI_ORIGINS: '',
      API_PORT: '',
      TRUST_PROXY: '',
    });
    assert.equal(config.TWILIO_FROM_NUMBER, undefined);
    assert.equal(config.TWILIO_INBOUND_PRACTICES, undefined);
    assert.equal(config.ATHENA_POLL_PRACTICES, undefined);
    assert.equal(config.OIDC_ISSUER_URL, undefined);
    assert.equal(config.API_PORT, 3000, 'an empty value takes the default');
    assert.equal(config.TRUST_PROXY, false);
    // A required setting given as '' is missing, and said so.
    const problems = problemsOf({ ...VALID, LABLOOP_ID_SECRET: '' });
    assert.ok(
      problems.some((p) => p.startsWith('LABLOOP_ID_SECRET: missing')),
      problems.join('; '),
    );
  });

  it('TRUST_PROXY: off by default; a hop count or proxy IPs/CIDRs; never "trust everyone"', () => {
    assert.equal(loadConfig(VALID).TRUST_PROXY, false);
    assert.equal(loadConfig({ ...VALID, TRUST_PROXY: 'false' }).TRUST_PROXY, false);
    assert.equal(loadConfig({ ...VALID, TRUST_PROXY: '0' }).TRUST_PROXY, false);
    assert.equal(loadConfig({ ...VALID, TRUST_PROXY: '2' }).TRUST_PROXY, 2);
    assert.deepEqual(loadConfig({ ...VALID, TRUST_PROXY: '10.0.0.0/8, 192.168.1.5,fd00::/8' }).TRUST_PROXY, [
      '10.0.0.0/8',
      '192.168.1.5',
      'fd00::/8',
    ]);
    for (const bad of ['true', 'yes', '-1', '1.5', '10.0.0.0/33', '300.1.1.1', 'fd00::/129', 'lb.internal']) {
      const problems = problemsOf({ ...VALID, TRUST_PROXY: bad });
      assert.ok(
        problems.some((p) => p.startsWith('TRUST_PROXY: must be false, a hop count')),
        `${bad}: ${problems.join('; ')}`,
      );
    }
  });

  it('stops the worker at start with the message, before connecting to anything', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH, ...VALID, LABLOOP_ID_SECRET: undefined },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /Invalid configuration:\n\s+- LABLOOP_ID_SECRET: missing/);
  });
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ConfigError, loadConfig } from '../../lib/config';
import {
  GENERATED_SECRET_SETTINGS,
  ISSUED_SECRET_SETTINGS,
  TOKEN_LIST_SETTINGS,
  isPlaceholder,
  weakTokenReason,
} from '../../lib/config-secrets';
import { PROJECT_ROOT } from '../../lib/tools';

/**
 * Secrets are checked at start: labloop's own tokens are ≥ 32 random characters, no setting holds an
 * env.example placeholder, and no value is used twice. Each refusal names the setting, never the value.
 */

const token = () => randomBytes(24).toString('hex');

const VALID: Record<string, string> = {
  LABLOOP_CODEC_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
  LABLOOP_ID_SECRET: token(),
  PUBLIC_BASE_URL: 'https://labloop.example.org',
  LABLOOP_API_TOKENS: `engine:${token()},lab:${token()}`,
  LABLOOP_OPS_TOKENS: `ops:${token()}`,
  LABLOOP_ADMIN_TOKENS: `admin:${token()}`,
  TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
  TWILIO_AUTH_TOKEN: token().slice(0, 32),
  TWILIO_MESSAGING_SERVICE_SID: `MG${'b'.repeat(32)}`,
  SPRUCE_API_TOKEN: token(),
  SPRUCE_WEBHOOK_SECRET: token(),
  ATHENA_CLIENT_ID: 'client',
  ATHENA_CLIENT_SECRET: token(),
  ATHENA_WEBHOOK_SECRET: token(),
  SESSION_SECRET: token(),
};

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

function assertRefused(env: Record<string, string | undefined>, prefix: string, secret?: string): void {
  const problems = problemsOf(env);
  assert.ok(
    problems.some((p) => p.startsWith(prefix)),
    `expected a problem starting "${prefix}" in: ${problems.join('; ')}`,
  );
  if (secret !== undefined) assert.ok(!problems.join('\n').includes(secret), 'the value is never echoed');
}

/** `KEY=value` lines of deploy/env.example with a value, commented-out ones included. */
function envExampleValues(): Map<string, string> {
  const text = readFileSync(path.join(PROJECT_ROOT, 'deploy/env.example'), 'utf8');
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^#?\s*([A-Z][A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined && m[2] !== '') values.set(m[1], m[2]);
  }
  return values;
}

void describe('secrets at start', () => {
  void it('accepts long random tokens and distinct secrets', () => {
    assert.equal(loadConfig(VALID).LABLOOP_API_TOKENS, VALID.LABLOOP_API_TOKENS);
  });

  void it('refuses a token shorter than 32 characters, naming the setting and the client', () => {
    const short = 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5'; // 30 characters
    assertRefused(
      { ...VALID, LABLOOP_API_TOKENS: `engine:${token()},lab:${short}` },
      'LABLOOP_API_TOKENS (lab): token must be at least 32 random characters',
      short,
    );
    assertRefused({ ...VALID, LABLOOP_ID_SECRET: 'id-secret-0123456789' }, 'LABLOOP_ID_SECRET: must be at least 32');
  });

  void it('refuses a long token that is a pattern, not random', () => {
    for (const weak of ['a'.repeat(40), 'abab'.repeat(10), '0000111100001111000011110000111100'])
      assertRefused(
        { ...VALID, LABLOOP_OPS_TOKENS: `ops:${weak}` },
        'LABLOOP_OPS_TOKENS (ops): token does not look random',
        weak,
      );
  });

  void it('every placeholder deploy/env.example ships for a secret is refused, naming the setting', () => {
    const example = envExampleValues();
    let checked = 0;
    for (const setting of TOKEN_LIST_SETTINGS) {
      const raw = example.get(setting);
      if (raw === undefined) continue;
      checked += 1;
      const name = raw.slice(0, raw.indexOf(':'));
      assertRefused({ ...VALID, [setting]: raw }, `${setting} (${name}): token is a placeholder`);
    }
    for (const setting of [...GENERATED_SECRET_SETTINGS, ...ISSUED_SECRET_SETTINGS]) {
      const raw = example.get(setting);
      if (raw === undefined) continue;
      checked += 1;
      assertRefused({ ...VALID, [setting]: raw }, `${setting}: is a placeholder`);
    }
    assert.ok(checked >= 1, 'env.example ships at least the API token placeholder');
    // The other spelling people type in its place, also long enough to pass the length check.
    assertRefused(
      { ...VALID, SPRUCE_WEBHOOK_SECRET: 'replace-me-with-the-spruce-webhook-secret' },
      'SPRUCE_WEBHOOK_SECRET: is a placeholder',
    );
  });

  void it('refuses the same token in two sets, and in one set under two names', () => {
    const shared = token();
    assertRefused(
      { ...VALID, LABLOOP_API_TOKENS: `engine:${shared}`, LABLOOP_OPS_TOKENS: `ops:${shared}` },
      'LABLOOP_OPS_TOKENS (ops): is the same token as LABLOOP_API_TOKENS (engine)',
      shared,
    );
    assertRefused(
      { ...VALID, LABLOOP_ADMIN_TOKENS: `a1:${shared},a2:${shared}` },
      'LABLOOP_ADMIN_TOKENS (a2): is the same token as LABLOOP_ADMIN_TOKENS (a1)',
    );
  });

  void it('refuses one value in two settings (a token reused as a secret, or two vendor secrets)', () => {
    const shared = token();
    assertRefused(
      { ...VALID, LABLOOP_ID_SECRET: shared, SESSION_SECRET: shared },
      'SESSION_SECRET: is the same token as LABLOOP_ID_SECRET',
    );
    assertRefused(
      { ...VALID, LABLOOP_API_TOKENS: `engine:${shared}`, ATHENA_WEBHOOK_SECRET: shared },
      'ATHENA_WEBHOOK_SECRET: is the same token as LABLOOP_API_TOKENS (engine)',
    );
    assertRefused(
      { ...VALID, SPRUCE_WEBHOOK_SECRET: shared, ATHENA_WEBHOOK_SECRET: shared },
      'ATHENA_WEBHOOK_SECRET: is the same token as SPRUCE_WEBHOOK_SECRET',
    );
  });

  void it('random tokens of 32+ characters pass; anything shorter never does', () => {
    fc.assert(
      fc.property(fc.integer({ min: 24, max: 64 }), (bytes) => {
        assert.equal(weakTokenReason(randomBytes(bytes).toString('hex')), undefined);
        assert.equal(weakTokenReason(randomBytes(bytes).toString('base64url')), undefined);
      }),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 31 }), (value) => {
        assert.notEqual(weakTokenReason(value), undefined);
      }),
    );
    assert.ok(isPlaceholder('CHANGE-ME-LONG-RANDOM'));
  });

  void it('production requires an https PUBLIC_BASE_URL', () => {
    const production = { ...VALID, NODE_ENV: 'production', DATABASE_URL: 'postgres://u@db/labloop' };
    assert.equal(loadConfig(production).PUBLIC_BASE_URL, 'https://labloop.example.org');
    assertRefused(
      { ...production, PUBLIC_BASE_URL: 'http://labloop.example.org' },
      'PUBLIC_BASE_URL: must be an https:// URL in production',
    );
    // Outside production a plain http URL (the sandbox on loopback) is fine.
    assert.equal(
      loadConfig({ ...VALID, PUBLIC_BASE_URL: 'http://127.0.0.1:3000' }).PUBLIC_BASE_URL,
      'http://127.0.0.1:3000',
    );
  });

  void it('the demo sign-in needs NODE_ENV=development set explicitly', () => {
    for (const nodeEnv of [undefined, 'test']) {
      assertRefused(
        { ...VALID, NODE_ENV: nodeEnv, LABLOOP_DEMO_LOGIN: 'true' },
        'LABLOOP_DEMO_LOGIN: needs NODE_ENV=development set explicitly',
      );
    }
    assertRefused(
      { ...VALID, NODE_ENV: 'production', DATABASE_URL: 'postgres://u@db/l', LABLOOP_DEMO_LOGIN: 'true' },
      'LABLOOP_DEMO_LOGIN: must not be enabled in production',
    );
    assert.equal(
      loadConfig({ ...VALID, NODE_ENV: 'development', LABLOOP_DEMO_LOGIN: 'true' }).LABLOOP_DEMO_LOGIN,
      true,
    );
    assert.equal(loadConfig({ ...VALID, NODE_ENV: 'test', LABLOOP_DEMO_LOGIN: 'false' }).LABLOOP_DEMO_LOGIN, false);
  });

  void it('each process requires and returns only the secrets it uses', () => {
    const {
      LABLOOP_API_TOKENS: _t,
      SESSION_SECRET: _s,
      SPRUCE_WEBHOOK_SECRET: _w,
      ATHENA_WEBHOOK_SECRET: _a,
      ...workerEnv
    } = VALID;
    const worker = loadConfig(
      { ...workerEnv, LABLOOP_OPS_TOKENS: undefined, LABLOOP_ADMIN_TOKENS: undefined },
      'worker',
    );
    assert.equal(worker.ATHENA_CLIENT_SECRET, VALID.ATHENA_CLIENT_SECRET);
    // Given all the same (a developer's full environment), the worker's configuration drops the API's secrets.
    const full = loadConfig(VALID, 'worker') as Record<string, unknown>;
    for (const name of ['LABLOOP_API_TOKENS', 'LABLOOP_OPS_TOKENS', 'LABLOOP_ADMIN_TOKENS', 'SESSION_SECRET'])
      assert.equal(full[name], undefined, name);
    const api = loadConfig(VALID, 'api') as Record<string, unknown>;
    assert.equal(api.ATHENA_CLIENT_SECRET, undefined);
    assert.equal(api.LABLOOP_API_TOKENS, VALID.LABLOOP_API_TOKENS);
    // Its own secrets stay required.
    assertRefused({ ...VALID, ATHENA_CLIENT_SECRET: undefined }, 'ATHENA_CLIENT_SECRET: missing');
    assert.throws(
      () => loadConfig({ ...VALID, ATHENA_CLIENT_SECRET: undefined }, 'worker'),
      /ATHENA_CLIENT_SECRET: missing/,
    );
    assert.throws(() => loadConfig({ ...VALID, LABLOOP_API_TOKENS: undefined }, 'api'), /LABLOOP_API_TOKENS: missing/);
    const schedule = loadConfig(
      {
        LABLOOP_CODEC_KEYS: VALID.LABLOOP_CODEC_KEYS,
        PUBLIC_BASE_URL: VALID.PUBLIC_BASE_URL,
        TWILIO_ACCOUNT_SID: VALID.TWILIO_ACCOUNT_SID,
        TWILIO_MESSAGING_SERVICE_SID: VALID.TWILIO_MESSAGING_SERVICE_SID,
        SPRUCE_INTERNAL_ENDPOINT_ID: 'ep',
        ATHENA_CLIENT_ID: 'client',
        ATHENA_CLIENT_SECRET: VALID.ATHENA_CLIENT_SECRET,
      },
      'athena-schedule',
    );
    assert.equal(schedule.ATHENA_CLIENT_SECRET, VALID.ATHENA_CLIENT_SECRET);
  });

  void it('the API refuses to start with a placeholder token, naming the setting', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'api/server.ts'], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH, ...VALID, LABLOOP_API_TOKENS: 'interface-engine:CHANGE-ME-LONG-RANDOM' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(run.status, 1, run.stderr);
    assert.match(
      run.stderr,
      /Invalid configuration:\n\s+- LABLOOP_API_TOKENS \(interface-engine\): token is a placeholder/,
    );
    assert.doesNotMatch(run.stderr, /CHANGE-ME/);
  });
});

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveTemporalTarget } from '../../lib/temporal/connection';

/**
 * Where the worker, the API and the scripts connect, from TEMPORAL_* settings and an optional TOML
 * profile (@temporalio/envconfig). Every case passes its own environment, without HOME, so the
 * developer's own ~/.config/temporalio/temporal.toml never leaks in.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'labloop-envconfig-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function tomlFile(name: string, text: string): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

describe('Temporal connection target (envconfig)', () => {
  it('defaults to a local plaintext server in the default namespace', () => {
    const target = resolveTemporalTarget({});
    assert.equal(target.address, 'localhost:7233');
    assert.equal(target.namespace, 'default');
    assert.equal(target.connectionOptions.address, 'localhost:7233');
    assert.equal(target.connectionOptions.tls, undefined);
    assert.equal(target.connectionOptions.apiKey, undefined);
  });

  it('takes address and namespace from the environment', () => {
    const target = resolveTemporalTarget({ TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_NAMESPACE: 'labloop' });
    assert.equal(target.address, 'temporal:7233');
    assert.equal(target.namespace, 'labloop');
    assert.equal(target.connectionOptions.tls, undefined);
  });

  it('treats empty values as unset: an empty API key does not turn TLS on', () => {
    // What docker compose passes for `${TEMPORAL_API_KEY:-}` and friends when the operator left them out.
    const target = resolveTemporalTarget({
      TEMPORAL_ADDRESS: '',
      TEMPORAL_NAMESPACE: '',
      TEMPORAL_API_KEY: '',
      TEMPORAL_TLS: '',
      TEMPORAL_TLS_SERVER_NAME: '',
      TEMPORAL_PROFILE: '',
      TEMPORAL_CONFIG_FILE: '',
    });
    assert.equal(target.address, 'localhost:7233');
    assert.equal(target.namespace, 'default');
    assert.equal(target.connectionOptions.apiKey, undefined);
    assert.equal(target.connectionOptions.tls, undefined);
  });

  it('with an API key (Temporal Cloud) sends it over TLS', () => {
    const target = resolveTemporalTarget({
      TEMPORAL_ADDRESS: 'labloop.a1b2c.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'labloop.a1b2c',
      TEMPORAL_API_KEY: 'cloud-api-key',
    });
    assert.equal(target.connectionOptions.apiKey, 'cloud-api-key');
    assert.equal(target.connectionOptions.tls, true);
    assert.equal(target.namespace, 'labloop.a1b2c');
  });

  it('TEMPORAL_TLS=false switches TLS off even with an API key', () => {
    const target = resolveTemporalTarget({ TEMPORAL_API_KEY: 'key', TEMPORAL_TLS: 'false' });
    assert.equal(target.connectionOptions.tls, false);
  });

  it('builds mTLS from TEMPORAL_TLS_* (client certificate, CA, server name)', () => {
    const target = resolveTemporalTarget({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_TLS: 'true',
      TEMPORAL_TLS_CLIENT_CERT_DATA: 'CERT',
      TEMPORAL_TLS_CLIENT_KEY_DATA: 'KEY',
      TEMPORAL_TLS_SERVER_CA_CERT_DATA: 'CA',
      TEMPORAL_TLS_SERVER_NAME: 'temporal.example.org',
    });
    const tls = target.connectionOptions.tls;
    assert.ok(tls !== undefined && tls !== null && typeof tls === 'object', `TLS options, got ${JSON.stringify(tls)}`);
    assert.equal(tls.serverNameOverride, 'temporal.example.org');
    const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : Buffer.from(bytes).toString());
    assert.equal(text(tls.clientCertPair?.crt), 'CERT');
    assert.equal(text(tls.clientCertPair?.key), 'KEY');
    assert.equal(text(tls.serverRootCACertificate), 'CA');
    assert.equal(target.connectionOptions.apiKey, undefined);
  });

  it('reads a named profile from TEMPORAL_CONFIG_FILE, and the environment overrides it', () => {
    const file = tomlFile(
      'profiles.toml',
      [
        '[profile.default]',
        'address = "localhost:7233"',
        '',
        '[profile.cloud]',
        'address = "labloop.a1b2c.tmprl.cloud:7233"',
        'namespace = "labloop.a1b2c"',
        'api_key = "profile-key"',
        '',
      ].join('\n'),
    );
    const cloud = resolveTemporalTarget({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'cloud' });
    assert.equal(cloud.address, 'labloop.a1b2c.tmprl.cloud:7233');
    assert.equal(cloud.namespace, 'labloop.a1b2c');
    assert.equal(cloud.connectionOptions.apiKey, 'profile-key');
    assert.equal(cloud.connectionOptions.tls, true);

    const overridden = resolveTemporalTarget({
      TEMPORAL_CONFIG_FILE: file,
      TEMPORAL_PROFILE: 'cloud',
      TEMPORAL_NAMESPACE: 'other.a1b2c',
    });
    assert.equal(overridden.namespace, 'other.a1b2c');
    assert.equal(overridden.address, 'labloop.a1b2c.tmprl.cloud:7233');

    assert.throws(
      () => resolveTemporalTarget({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'missing' }),
      /Profile 'missing' not found/,
    );
  });

  it('reads the default profile from the user config dir', () => {
    const configHome = path.join(dir, 'xdg');
    tomlFile('xdg/temporalio/temporal.toml', '[profile.default]\naddress = "from-user-config:7233"\n');
    assert.equal(resolveTemporalTarget({ XDG_CONFIG_HOME: configHome }).address, 'from-user-config:7233');
  });

  it('refuses a TEMPORAL_CONFIG_FILE that does not exist (envconfig alone would ignore it)', () => {
    const missing = path.join(dir, 'nope.toml');
    assert.throws(
      () => resolveTemporalTarget({ TEMPORAL_CONFIG_FILE: missing }),
      /TEMPORAL_CONFIG_FILE=.*does not exist/,
    );
  });
});

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Connection, ConnectionOptions } from '@temporalio/client';
import { startDevServer, type DevServer } from '../../sandbox/servers/temporal-dev-server';
import type { Stack } from '../../sandbox/stack';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions';
import { startTestStack } from '../support/stack';

/**
 * `npm start` against an external Temporal (Temporal Cloud, a self-hosted cluster) needs more than
 * the address: the API key, TLS, a TOML profile. The stack must hand every TEMPORAL_* connection
 * setting to the worker and the API, and nothing else with that prefix. The server here is a
 * plaintext dev server, so TLS stays off (TEMPORAL_TLS=false) and the API key is sent and ignored.
 */
describe('the stack forwards Temporal connection settings to an external server', () => {
  let own: DevServer | undefined;
  let stack: Stack;
  const dir = mkdtempSync(path.join(tmpdir(), 'labloop-temporal-settings-'));

  before(async () => {
    let address = process.env.TEMPORAL_ADDRESS;
    if (address === undefined || address === '') {
      own = await startDevServer({ headless: true, searchAttributes: SEARCH_ATTRIBUTES });
      address = own.address;
    }
    const profiles = path.join(dir, 'temporal.toml');
    writeFileSync(
      profiles,
      [
        '[profile.labloop]',
        `address = "${address}"`,
        '',
        '[profile.labloop.grpc_meta]',
        'x-labloop-profile = "on"',
        '',
      ].join('\n'),
    );
    stack = await startTestStack({
      extra: {
        temporalAddress: address,
        temporalEnv: {
          TEMPORAL_API_KEY: 'cloud-api-key-for-test',
          TEMPORAL_TLS: 'false',
          TEMPORAL_PROFILE: 'labloop',
          TEMPORAL_CONFIG_FILE: profiles,
          TEMPORAL_UI_ORIGINS: 'http://not-a-connection-setting.example',
        },
      },
    });
  });
  after(async () => {
    await stack?.stop();
    await own?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('connects with the API key and the profile from the environment, and TLS off as asked', () => {
    // The options the client was connected with (the declared type leaves out apiKey and tls).
    const options = (stack.temporal.connection as Connection).options as unknown as ConnectionOptions;
    assert.equal(options.apiKey, 'cloud-api-key-for-test');
    assert.equal(options.metadata?.['x-labloop-profile'], 'on', 'the TOML profile named by TEMPORAL_PROFILE was read');
    // An API key alone turns TLS on, and TLS to this plaintext server would have failed the start:
    // that the stack runs at all shows TEMPORAL_TLS=false arrived too.
    assert.notEqual(options.tls, true);
  });

  it('does not take other TEMPORAL_* variables for connection settings', () => {
    assert.equal(stack.config.TEMPORAL_UI_ORIGINS, undefined);
  });

  it('serves: the API reaches Temporal through those settings', async () => {
    const response = await fetch(`${stack.urls.api}/readyz`);
    assert.equal(response.status, 200, await response.text());
  });
});

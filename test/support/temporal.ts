import { readFileSync } from 'node:fs';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import { createDataConverter, WORKFLOW_BUNDLE_OPTIONS } from '../../lib/temporal/data-converter';
import { generateCodecKey } from '../../lib/temporal/encryption-codec';
import { startDevServer, type DevServer } from '../../sandbox/servers/temporal-dev-server';
import { temporalCli, temporalTestServer } from '../../lib/tools';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions';
import { registerSearchAttributes } from '../../lib/temporal/search-attributes';
import { temporalRuntimeCaptured } from './log-capture';

/**
 * Temporal for tests, real servers only. Time-skipping tests get their own test server per file
 * (time skipping is global to a server). Dev-server tests share the server the test runner started
 * (TEMPORAL_ADDRESS) or start one of their own. Binaries: env path, then the pinned local install,
 * then the SDK's download; a missing server fails loudly.
 */

let runtimeInstalled = false;
/** The SDK's own logs at WARN to the console, unless this process captures them (log-capture.ts). */
export function installQuietRuntime(): void {
  if (runtimeInstalled || temporalRuntimeCaptured()) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('WARN') });
}

/** A codec key for this test process (tests prove encryption; they need no stable key). */
export const TEST_CODEC_KEYS = process.env.LABLOOP_CODEC_KEYS ?? generateCodecKey('test-key-1');

export function testDataConverter(): DataConverter {
  return createDataConverter(TEST_CODEC_KEYS);
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** The workflow bundle, built once per run by scripts/test.ts (LABLOOP_WORKFLOW_BUNDLE) or here. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= (async () => {
    const prebuilt = process.env.LABLOOP_WORKFLOW_BUNDLE;
    if (prebuilt !== undefined && prebuilt !== '') {
      return { code: readFileSync(prebuilt, 'utf8'), sourceMap: readFileSync(`${prebuilt}.map`, 'utf8') };
    }
    return bundleWorkflowCode({
      workflowsPath: require.resolve('../../workflows'),
      ...WORKFLOW_BUNDLE_OPTIONS,
      logger: new DefaultLogger('WARN'),
    });
  })();
  return bundle;
}

export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  installQuietRuntime();
  const server = temporalTestServer();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: server.kind === 'download' ? {} : { executable: { type: 'existing-path', path: server.path } },
    client: { dataConverter: testDataConverter() },
  });
  await registerSearchAttributes(env.connection, env.namespace ?? 'default');
  return env;
}

export interface DevServerEnv {
  env: TestWorkflowEnvironment;
  address: string;
  teardown(): Promise<void>;
}

/** A dev-server environment: the run's shared server when TEMPORAL_ADDRESS is set, else a private one. */
export async function createDevServerEnv(): Promise<DevServerEnv> {
  installQuietRuntime();
  const shared = process.env.TEMPORAL_ADDRESS;
  let own: DevServer | undefined;
  let env: TestWorkflowEnvironment;
  if (shared !== undefined && shared !== '') {
    env = await TestWorkflowEnvironment.createFromExistingServer({
      address: shared,
      namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
      client: { dataConverter: testDataConverter() },
    });
  } else if (temporalCli().kind !== 'download') {
    own = await startDevServer({ headless: true, searchAttributes: SEARCH_ATTRIBUTES });
    env = await TestWorkflowEnvironment.createFromExistingServer({
      address: own.address,
      client: { dataConverter: testDataConverter() },
    });
  } else {
    env = await TestWorkflowEnvironment.createLocal({
      server: { searchAttributes: [...SEARCH_ATTRIBUTES] },
      client: { dataConverter: testDataConverter() },
    });
  }
  return {
    env,
    address: env.address,
    async teardown() {
      await env.teardown();
      await own?.stop();
    },
  };
}

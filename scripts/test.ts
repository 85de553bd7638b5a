/**
 * `npm test`: every test, on real servers. Starts one embedded PostgreSQL and one Temporal dev
 * server for the whole run (unless LABLOOP_TEST_PG_ADMIN_URL/DATABASE_URL or TEMPORAL_ADDRESS name
 * existing ones), prebuilds the workflow bundle once, then runs node's test runner over test/**
 * with them in the environment. Time-skipping tests start their own test server per file.
 * Arguments filter the files: `npm test -- test/unit` or `npm test -- hl7`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../sandbox/servers/embedded-postgres';
import { startDevServer, type DevServer } from '../sandbox/servers/temporal-dev-server';
import { PROJECT_ROOT, temporalCli, temporalTestServer } from '../lib/tools';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';
import { buildWorkflowBundle } from './build-workflow-bundle';

/** Two cores: two test files at a time keeps both busy without starving the servers. */
const TEST_CONCURRENCY = Number(process.env.LABLOOP_TEST_CONCURRENCY ?? 2);
/**
 * node's --test-timeout applies to each test (`it`/`test`), not to a file: one test may run
 * 10 minutes at most. Whole browser and end-to-end files take 1–2 minutes, so a test reaching the
 * limit is hung, and the limit turns the hang into a failure.
 */
const PER_TEST_TIMEOUT_MS = 10 * 60_000;

function findTestFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...findTestFiles(full));
    else if (entry.endsWith('.test.ts')) out.push(full);
  }
  return out.sort();
}

async function main(): Promise<number> {
  const filters = process.argv.slice(2);
  const all = findTestFiles(path.join(PROJECT_ROOT, 'test'));
  const files =
    filters.length === 0 ? all : all.filter((f) => filters.some((flt) => path.relative(PROJECT_ROOT, f).includes(flt)));
  if (files.length === 0) {
    console.error(`no test files match ${filters.join(' ')}`);
    return 1;
  }
  if (temporalTestServer().kind === 'download' || temporalCli().kind === 'download') {
    console.log(
      '[test] Temporal binaries are not installed locally: falling back to the SDK download (needs internet); `npm run setup` installs them',
    );
  }

  const scratch = mkdtempSync(path.join(tmpdir(), 'labloop-test-'));
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'test' };
  let pg: EmbeddedDatabase | undefined;
  let temporal: DevServer | undefined;
  const cleanup = async () => {
    await temporal?.stop().catch(() => undefined);
    await pg?.stop().catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
  };
  try {
    const started = Date.now();
    const bundle = buildWorkflowBundle(path.join(scratch, 'workflow-bundle.js'));
    if (env.LABLOOP_TEST_PG_ADMIN_URL === undefined && env.DATABASE_URL === undefined) {
      pg = await startEmbeddedPostgres();
      env.LABLOOP_TEST_PG_ADMIN_URL = pg.adminUrl;
    }
    if (env.TEMPORAL_ADDRESS === undefined) {
      temporal = await startDevServer({ headless: true, searchAttributes: SEARCH_ATTRIBUTES });
      env.TEMPORAL_ADDRESS = temporal.address;
    }
    env.LABLOOP_WORKFLOW_BUNDLE = await bundle;
    console.log(
      `[test] PostgreSQL ${pg !== undefined ? 'embedded' : 'given'}, Temporal ${temporal !== undefined ? `dev server ${temporal.address}` : env.TEMPORAL_ADDRESS}, ` +
        `${files.length} files, ready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );

    const args = [
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${TEST_CONCURRENCY}`,
      `--test-timeout=${PER_TEST_TIMEOUT_MS}`,
      '--test-reporter=spec',
      ...files.map((f) => path.relative(PROJECT_ROOT, f)),
    ];
    const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, env, stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const code = await new Promise<number>((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
    return code;
  } finally {
    await cleanup();
  }
}

main()
  .then((code) => process.exit(code))
  .catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });

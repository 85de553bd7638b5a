import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT, node22, pinnedNode22 } from '../../lib/tools';

/**
 * The image runs Node 22 LTS (package.json engines: ^22.13 || >=24); the development machines and
 * CI still run the suite on Node 20 until they move (npm only warns there), so this file runs a representative
 * subset again on the pinned Node 22 that `npm test`'s setup installs (tools/node22.json): the API
 * app booted with its routes, auth and rate limiter (app.inject), the configuration with a worker
 * start, the payload codec's property tests, and what loads Temporal's native bridge (core-bridge):
 * a time-skipping workflow test (test server, worker, the workflow bundle in the worker's sandbox)
 * and HL7 over HTTPS end to end (the API's client and a real worker on the dev server, PostgreSQL).
 */
const SUBSET = [
  'test/integration/trust-proxy.test.ts',
  'test/unit/config.test.ts',
  'test/integration/codec-properties.test.ts',
  'test/workflows/consent-invitation.test.ts',
  'test/integration/ingest-hl7-https.test.ts',
];
/** The subset takes about a minute on a 2-core machine (two files at a time); 5 minutes means it hung. */
const SUBSET_TIMEOUT_MS = 5 * 60_000;

describe('compatibility with Node.js 22', () => {
  it('runs the representative subset on Node 22', () => {
    const binary = node22();
    assert.ok(
      binary !== undefined,
      'Node.js 22 is not installed: `npm test` installs it (setup --browser), or set LABLOOP_NODE22_PATH',
    );
    const version = spawnSync(binary, ['--version'], { encoding: 'utf8' });
    assert.equal(version.stdout.trim(), `v${pinnedNode22().version}`, 'the pinned Node 22 runs here');

    const env: NodeJS.ProcessEnv = { ...process.env };
    // Node's test runner passes its own context to child test processes; this is a fresh run.
    delete env.NODE_TEST_CONTEXT;
    const run = spawnSync(binary, ['--import', 'tsx', '--test', '--test-reporter=spec', ...SUBSET], {
      cwd: PROJECT_ROOT,
      env,
      encoding: 'utf8',
      timeout: SUBSET_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    });
    const printed = `${run.stdout}\n${run.stderr}`;
    assert.equal(run.status, 0, printed.slice(-4000));
    // The runner's summary: every file ran tests, and none failed.
    const passed = Number(/ℹ pass (\d+)/.exec(printed)?.[1] ?? /# pass (\d+)/.exec(printed)?.[1] ?? 0);
    assert.ok(passed >= SUBSET.length, `tests passed on Node 22: ${passed}\n${printed.slice(-2000)}`);
    assert.match(printed, /ℹ fail 0|# fail 0/);
    // And each file's own suite passed there (a file that loaded nothing would not print one).
    for (const file of SUBSET) {
      const title = /describe\(\s*(['"`])(.+?)\1/.exec(readFileSync(path.join(PROJECT_ROOT, file), 'utf8'))?.[2];
      assert.ok(title !== undefined, `${file} has a describe()`);
      assert.ok(printed.includes(`✔ ${title}`), `${file}: suite "${title}" passed on Node 22\n${printed.slice(-2000)}`);
    }
  });
});

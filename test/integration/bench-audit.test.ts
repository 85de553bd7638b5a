import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const ROOT = path.resolve(__dirname, '../..');

/** The benchmark is not timed here: this only checks that it runs, compares both sides and verifies. */
void describe('npm run bench:audit', () => {
  void it('runs on a tiny load and prints both rates, their ratio and a verified chain', async () => {
    const admin = process.env.LABLOOP_TEST_PG_ADMIN_URL;
    const { LABLOOP_TEST_PG_ADMIN_URL: _a, DATABASE_URL: _d, ...base } = process.env;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(ROOT, 'scripts/bench-audit.ts'),
        '--processes',
        '2',
        '--concurrency',
        '2',
        '--appends',
        '40',
      ],
      { cwd: ROOT, env: { ...base, ...(admin !== undefined ? { DATABASE_URL: admin } : {}) }, timeout: 180_000 },
    );
    assert.match(stdout, /baseline, one global chain lock per append: +\d+ appends\/s/);
    assert.match(stdout, /lock-free append \+ group-commit sealing: +\d+ appends\/s/);
    assert.match(stdout, /ratio new\/baseline: \d+\.\d\dx/);
    assert.match(stdout, /chain verified: 40 rows/);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/tools';

/**
 * The code rules are part of the suite: strict TypeScript, ESLint (including the rule that keeps
 * workflows/ and domain/ deterministic) and Prettier formatting all pass, or `npm test` fails.
 */
function run(bin: string, args: string[]) {
  return spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'node_modules', bin), ...args], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
}

describe('static checks', () => {
  it('typechecks (tsc --noEmit, strict)', () => {
    const r = run('typescript/bin/tsc', ['--noEmit', '-p', '.']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it('lints clean (eslint .)', () => {
    const r = run('eslint/bin/eslint.js', ['.', '--max-warnings=0']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it('is formatted (prettier --check .)', () => {
    const r = run('prettier/bin/prettier.cjs', ['--check', '.']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});

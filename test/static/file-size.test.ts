import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/tools';

/**
 * Small files: no file outside test/ is over MAX_LINES lines unless it says why at its top (in
 * its first REASON_WITHIN lines, a comment starting "Why this file is over 700 lines").
 */
const MAX_LINES = 700;
const REASON_WITHIN = 10;
const REASON = /Why this file is over 700 lines/;
/** Generated or vendored, never edited by hand. */
const EXEMPT = new Set(['package-lock.json']);

/** Why `text` (a file's content) breaks the rule, or undefined when it keeps it. */
function sizeProblem(text: string): string | undefined {
  const lines = text.split('\n');
  const count = text.endsWith('\n') ? lines.length - 1 : lines.length;
  if (count <= MAX_LINES) return undefined;
  if (REASON.test(lines.slice(0, REASON_WITHIN).join('\n'))) return undefined;
  return `${count} lines and no reason at its top`;
}

describe('file size', () => {
  it(`no file outside test/ is over ${MAX_LINES} lines without a reason written at its top`, () => {
    const files = execFileSync('git', ['ls-files'], { cwd: PROJECT_ROOT, encoding: 'utf8' })
      .split('\n')
      .filter((f) => f !== '' && !f.startsWith('test/') && !EXEMPT.has(f));
    assert.ok(files.length > 100, `git lists the tracked files (${files.length})`);
    const offenders = files.flatMap((file) => {
      let text: string;
      try {
        text = readFileSync(path.join(PROJECT_ROOT, file), 'utf8');
      } catch {
        return []; // deleted in the working tree, not yet committed
      }
      const problem = sizeProblem(text);
      return problem === undefined ? [] : [`${file}: ${problem}`];
    });
    assert.deepEqual(offenders, []);
  });

  it('the rule refuses a long file without a reason and accepts one with it, or a short one', () => {
    const long = (top: string) => `${top}\n${'x\n'.repeat(MAX_LINES)}`;
    assert.notEqual(sizeProblem(long('// a long file')), undefined);
    assert.notEqual(
      sizeProblem(`${'x\n'.repeat(REASON_WITHIN)}// Why this file is over 700 lines: …\n${long('')}`),
      undefined,
    );
    assert.equal(sizeProblem(long('/*\n * Why this file is over 700 lines: one closure.\n */')), undefined);
    assert.equal(sizeProblem('x\n'.repeat(MAX_LINES)), undefined);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ESLint } from 'eslint';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/tools';

/** The determinism rule must actually bite: code that does I/O or reads clocks in workflows/ is refused. */
describe('lint rule keeping workflows/ deterministic', () => {
  const eslint = new ESLint({ cwd: PROJECT_ROOT });
  // An existing workflows/ file, so the type-aware parser knows it; the text linted is the probe's.
  const file = path.join(PROJECT_ROOT, 'workflows', 'workflow-time.ts');
  const cases: [string, string][] = [
    ["import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n", 'no-restricted-imports'],
    ["import pg from 'pg';\nexport const x = pg;\n", 'no-restricted-imports'],
    ["import twilio from 'twilio';\nexport const x = twilio;\n", 'no-restricted-imports'],
    ["import Fastify from 'fastify';\nexport const x = Fastify;\n", 'no-restricted-imports'],
    ['export const now = Date.now();\n', 'no-restricted-syntax'],
    ['export const now = new Date();\n', 'no-restricted-syntax'],
    ['export const r = Math.random();\n', 'no-restricted-syntax'],
    ['export const env = process.env.X;\n', 'no-restricted-globals'],
  ];
  for (const [source, rule] of cases) {
    it(`refuses: ${source.split('\n')[0]}`, async () => {
      const [result] = await eslint.lintText(source, { filePath: file });
      const rules = (result?.messages ?? []).map((m) => m.ruleId);
      assert.ok(rules.includes(rule), `expected ${rule}, got ${rules.join(', ')}`);
    });
  }
  it('accepts plain deterministic code', async () => {
    const [result] = await eslint.lintText(
      'export function add(a: number, b: number): number {\n  return a + b;\n}\n',
      {
        filePath: file,
      },
    );
    assert.deepEqual(
      (result?.messages ?? []).filter((m) => m.severity === 2).map((m) => m.ruleId),
      [],
    );
  });
});

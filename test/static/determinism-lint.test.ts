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
    // Modules loaded around the static-import check.
    ["import 'node:fs';\n", 'no-restricted-imports'],
    ["export * from 'node:child_process';\n", 'no-restricted-imports'],
    ["export const fs: unknown = require('node:fs');\n", 'no-restricted-syntax'],
    ["export const pg = import('pg');\n", 'no-restricted-syntax'],
    ["import fs = require('fs');\nexport const x = fs;\n", 'no-restricted-syntax'],
    // Clocks and randomness reached another way.
    ['export const now = globalThis.Date.now();\n', 'no-restricted-globals'],
    ['export const r = globalThis.Math.random();\n', 'no-restricted-globals'],
    ['export const now = Date();\n', 'no-restricted-syntax'],
    ["export const now = Date('2026-01-01');\n", 'no-restricted-syntax'],
    ['export const clock = Date.now;\n', 'no-restricted-syntax'],
    ['export const id = crypto.randomUUID();\n', 'no-restricted-globals'],
    ['export const id = globalThis.crypto.randomUUID();\n', 'no-restricted-globals'],
    // Scheduling outside the workflow's own timers.
    ['setTimeout(() => undefined, 1000);\n', 'no-restricted-globals'],
    ['setInterval(() => undefined, 1000);\n', 'no-restricted-globals'],
    ['setImmediate(() => undefined);\n', 'no-restricted-globals'],
    ['queueMicrotask(() => undefined);\n', 'no-restricted-globals'],
    ['export const ref = new WeakRef({});\n', 'no-restricted-globals'],
  ];
  for (const [source, rule] of cases) {
    it(`refuses: ${source.split('\n')[0]}`, async () => {
      const [result] = await eslint.lintText(source, { filePath: file });
      const rules = (result?.messages ?? []).map((m) => m.ruleId);
      assert.ok(rules.includes(rule), `expected ${rule}, got ${rules.join(', ')}`);
    });
  }
  it('holds domain/ to the same rules', async () => {
    const domainFile = path.join(PROJECT_ROOT, 'domain', 'classification.ts');
    for (const [source, rule] of [
      ['export const now = Date();\n', 'no-restricted-syntax'],
      ["export const pg = import('pg');\n", 'no-restricted-syntax'],
      ['export const id = crypto.randomUUID();\n', 'no-restricted-globals'],
    ]) {
      const [result] = await eslint.lintText(source, { filePath: domainFile });
      const rules = (result?.messages ?? []).map((m) => m.ruleId);
      assert.ok(rules.includes(rule), `${source.trim()}: expected ${rule}, got ${rules.join(', ')}`);
    }
  });
  it('still accepts dates computed from given time (Date.parse, new Date(x))', async () => {
    const [result] = await eslint.lintText(
      'export const later = (now: string): string => new Date(Date.parse(now) + 60_000).toISOString();\n',
      { filePath: file },
    );
    assert.deepEqual(
      (result?.messages ?? []).filter((m) => m.severity === 2).map((m) => `${m.ruleId}: ${m.message}`),
      [],
    );
  });
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

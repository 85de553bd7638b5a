import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/tools';

/**
 * Module boundaries the architecture depends on:
 *  - the API reaches workflows/ only through workflows/definitions.ts (message contract);
 *  - workflows/ imports activities only as types (the sandbox must not bundle I/O code), except the
 *    constant table of failure type names;
 *  - production code never imports the sandbox fakes (only the launcher and tests do).
 */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...tsFiles(full));
    else if (entry.endsWith('.ts')) out.push(full);
  }
  return out;
}

const IMPORT = /^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm;

function imports(file: string): { specifier: string; typeOnly: boolean; resolved: string }[] {
  const text = readFileSync(file, 'utf8');
  const out: { specifier: string; typeOnly: boolean; resolved: string }[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[3] ?? '';
    const resolved = specifier.startsWith('.')
      ? path.relative(PROJECT_ROOT, path.resolve(path.dirname(file), specifier))
      : specifier;
    out.push({ specifier, typeOnly: match[2] !== undefined, resolved });
  }
  return out;
}

describe('module boundaries', () => {
  it('the API imports nothing from workflows/ but definitions.ts', () => {
    const offenders = tsFiles(path.join(PROJECT_ROOT, 'api')).flatMap((file) =>
      imports(file)
        .filter((i) => i.resolved.startsWith('workflows/') && i.resolved !== 'workflows/definitions')
        .map((i) => `${path.relative(PROJECT_ROOT, file)} → ${i.specifier}`),
    );
    assert.deepEqual(offenders, []);
  });

  it('workflows/ imports activities only as types', () => {
    // error-types.ts is a dependency-free table of failure names both sides must agree on.
    const valueImportsAllowed = new Set(['activities/error-types']);
    const offenders = tsFiles(path.join(PROJECT_ROOT, 'workflows')).flatMap((file) =>
      imports(file)
        .filter((i) => i.resolved.startsWith('activities/') && !i.typeOnly && !valueImportsAllowed.has(i.resolved))
        .map((i) => `${path.relative(PROJECT_ROOT, file)} → ${i.specifier}`),
    );
    assert.deepEqual(offenders, []);
  });

  it('production code does not import the sandbox', () => {
    const dirs = ['api', 'activities', 'worker', 'lib', 'workflows', 'domain'];
    const offenders = dirs.flatMap((dir) =>
      tsFiles(path.join(PROJECT_ROOT, dir)).flatMap((file) =>
        imports(file)
          .filter((i) => i.resolved.startsWith('sandbox/'))
          .map((i) => `${path.relative(PROJECT_ROOT, file)} → ${i.specifier}`),
      ),
    );
    assert.deepEqual(offenders, []);
  });
});

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

/** `import … from`, `export … from`, and `import type … from` (the type-only form is told apart). */
const STATIC_IMPORT = /^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm;
/** Every other way a module gets loaded: `import 'x'` (side effects), `import('x')`, `require('x')`. */
const OTHER_LOADS = [
  /^\s*import\s+['"]([^'"]+)['"]/gm,
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
];

interface ModuleLoad {
  specifier: string;
  typeOnly: boolean;
  resolved: string;
}

/** The modules `text` (the source of `file`) loads, with relative specifiers resolved from the project root. */
function loadsOf(text: string, file: string): ModuleLoad[] {
  const resolve = (specifier: string) =>
    specifier.startsWith('.') ? path.relative(PROJECT_ROOT, path.resolve(path.dirname(file), specifier)) : specifier;
  const out: ModuleLoad[] = [];
  for (const match of text.matchAll(STATIC_IMPORT)) {
    const specifier = match[3] ?? '';
    out.push({ specifier, typeOnly: match[2] !== undefined, resolved: resolve(specifier) });
  }
  for (const pattern of OTHER_LOADS) {
    for (const match of text.matchAll(pattern)) {
      const specifier = match[1] ?? '';
      out.push({ specifier, typeOnly: false, resolved: resolve(specifier) });
    }
  }
  return out;
}

function imports(file: string): ModuleLoad[] {
  return loadsOf(readFileSync(file, 'utf8'), file);
}

/** Loads from an api/ file into workflows/ other than the message contract. */
function apiIntoWorkflows(file: string, loads: ModuleLoad[]): string[] {
  return loads
    .filter((i) => i.resolved.startsWith('workflows/') && i.resolved !== 'workflows/definitions')
    .map((i) => `${path.relative(PROJECT_ROOT, file)} → ${i.specifier}`);
}

describe('module boundaries', () => {
  it('the API imports nothing from workflows/ but definitions.ts', () => {
    const offenders = tsFiles(path.join(PROJECT_ROOT, 'api')).flatMap((file) => apiIntoWorkflows(file, imports(file)));
    assert.deepEqual(offenders, []);
  });

  it('the API check sees every way of loading a module', () => {
    const file = path.join(PROJECT_ROOT, 'api', 'routes', 'probe.ts');
    const probes = [
      "import { runLabResult } from '../../workflows/runner';",
      "export { decide } from '../../workflows/decide';",
      "import '../../workflows/side-effects';",
      "const lazy = await import('../../workflows/lazy');",
      "const legacy = require('../../workflows/legacy');",
      "import type { Draft } from '../../workflows/draft';",
    ];
    for (const probe of probes) {
      assert.equal(apiIntoWorkflows(file, loadsOf(probe, file)).length, 1, `caught: ${probe}`);
    }
    const allowed = [
      "import { TASK_QUEUE } from '../../workflows/definitions';",
      "const d = await import('../../workflows/definitions');",
    ];
    for (const probe of allowed) assert.deepEqual(apiIntoWorkflows(file, loadsOf(probe, file)), [], probe);
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

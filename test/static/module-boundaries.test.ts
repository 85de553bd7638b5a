import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/tools';

/**
 * The layers (docs/architecture.md), as a rule every production import is checked against:
 *
 *   domain ← workflows/definitions ← lib ← activities, api ← worker, scripts
 *
 *  - domain/ is pure and imports nothing of ours but domain/;
 *  - workflows/ depends only on domain/ and its own modules. Its definitions.ts is the contract
 *    everyone else talks to the workflows through (names, signals, IDs, search attributes): it
 *    imports only domain/, and lib/ and everything above may import it, but nothing else of
 *    workflows/ (the workflow code is loaded by the worker's bundler, by path);
 *  - lib/ (config, repositories, clients, ingest) imports domain/ and the contract;
 *  - activities/ and api/ import lib/ and below, never each other;
 *  - worker/ builds activities on lib/; scripts/ are entry points and may import anything;
 *  - nothing in production imports the sandbox or the tests.
 *
 * Type-only imports count: a type is a dependency too.
 */
type Layer = 'domain' | 'workflows/definitions' | 'workflows' | 'lib' | 'activities' | 'api' | 'worker' | 'scripts';

const MAY_IMPORT: Record<Layer, readonly string[]> = {
  domain: ['domain'],
  'workflows/definitions': ['domain'],
  workflows: ['domain', 'workflows/definitions', 'workflows'],
  lib: ['domain', 'workflows/definitions', 'lib'],
  activities: ['domain', 'workflows/definitions', 'lib', 'activities'],
  api: ['domain', 'workflows/definitions', 'lib', 'api'],
  worker: ['domain', 'workflows/definitions', 'lib', 'activities', 'worker'],
  scripts: [
    'domain',
    'workflows/definitions',
    'workflows',
    'lib',
    'activities',
    'api',
    'worker',
    'scripts',
    'sandbox',
    'test',
  ],
};

/** The layer a module (path from the project root, without extension) belongs to, if it is one of ours. */
function layerOf(modulePath: string): string | undefined {
  const normalised = modulePath.replace(/\\/g, '/').replace(/\.ts$/, '');
  if (normalised === 'workflows/definitions') return 'workflows/definitions';
  const top = normalised.split('/')[0] ?? '';
  return ['domain', 'workflows', 'lib', 'activities', 'api', 'worker', 'scripts', 'sandbox', 'test'].includes(top)
    ? top
    : undefined;
}

/**
 * Why `from` (a file, from the project root) may not load `to` (a module, from the project root),
 * or undefined when the layers allow it. Packages and files outside the layers are not its concern.
 */
function layerViolation(from: string, to: string): string | undefined {
  const source = layerOf(from);
  const target = layerOf(to);
  if (source === undefined || target === undefined) return undefined;
  const allowed = MAY_IMPORT[source as Layer] as readonly string[] | undefined;
  if (allowed === undefined || allowed.includes(target)) return undefined;
  return `${source} may import only ${allowed.join(', ')}, not ${target}`;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...tsFiles(full));
    else if (entry.endsWith('.ts')) out.push(full);
  }
  return out;
}

/** `import … from`, `export … from`, and `import type … from` (a type is a dependency too). */
const STATIC_IMPORT = /^\s*(?:import|export)\s+[^'"]*?from\s+['"]([^'"]+)['"]/gm;
/** Every other way a module gets loaded: `import 'x'` (side effects), `import('x')`, `require('x')`. */
const OTHER_LOADS = [
  /^\s*import\s+['"]([^'"]+)['"]/gm,
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
];

interface ModuleLoad {
  specifier: string;
  /** Relative specifiers resolved from the project root; packages as written. */
  resolved: string;
}

/** The modules `text` (the source of `file`) loads. */
function loadsOf(text: string, file: string): ModuleLoad[] {
  const resolve = (specifier: string) =>
    specifier.startsWith('.') ? path.relative(PROJECT_ROOT, path.resolve(path.dirname(file), specifier)) : specifier;
  const out: ModuleLoad[] = [];
  for (const pattern of [STATIC_IMPORT, ...OTHER_LOADS]) {
    for (const match of text.matchAll(pattern)) {
      const specifier = match[1] ?? '';
      out.push({ specifier, resolved: resolve(specifier) });
    }
  }
  return out;
}

/** Every load in `text` (the source of `file`) that breaks the layers, as `file → specifier (why)`. */
function violationsIn(file: string, text: string): string[] {
  const from = path.relative(PROJECT_ROOT, file);
  return loadsOf(text, file).flatMap((load) => {
    if (!load.specifier.startsWith('.')) return [];
    const why = layerViolation(from, load.resolved);
    return why === undefined ? [] : [`${from} → ${load.specifier} (${why})`];
  });
}

const PRODUCTION_DIRS = ['domain', 'workflows', 'lib', 'activities', 'api', 'worker', 'scripts'];

describe('module boundaries', () => {
  it('every production import follows the layers', () => {
    const offenders = PRODUCTION_DIRS.flatMap((dir) =>
      tsFiles(path.join(PROJECT_ROOT, dir)).flatMap((file) => violationsIn(file, readFileSync(file, 'utf8'))),
    );
    assert.deepEqual(offenders, []);
  });

  it('the rule refuses an import against the layers and allows one along them', () => {
    const refused: [string, string][] = [
      ['domain/x.ts', 'lib/config'],
      ['domain/x.ts', 'workflows/definitions'],
      ['workflows/x.ts', 'lib/audit/types'],
      ['workflows/x.ts', 'activities/sms'],
      ['workflows/definitions.ts', 'workflows/model'],
      ['lib/x.ts', 'workflows/decide'],
      ['lib/x.ts', 'activities/outbox'],
      ['lib/x.ts', 'api/ingest/handoff'],
      ['activities/x.ts', 'api/ingest/handoff'],
      ['api/routes/x.ts', 'activities/delivery-reports'],
      ['api/routes/x.ts', 'workflows/runner'],
      ['worker/x.ts', 'api/app'],
      ['lib/x.ts', 'sandbox/fakes/twilio'],
      ['api/x.ts', 'test/support/database'],
    ];
    for (const [from, to] of refused) assert.notEqual(layerViolation(from, to), undefined, `${from} → ${to}`);
    const allowed: [string, string][] = [
      ['domain/x.ts', 'domain/lab-result'],
      ['workflows/x.ts', 'domain/activity-contract'],
      ['workflows/x.ts', 'workflows/definitions'],
      ['workflows/definitions.ts', 'domain/vocabulary'],
      ['lib/x.ts', 'workflows/definitions'],
      ['lib/x/y.ts', 'lib/db/pool'],
      ['activities/x.ts', 'lib/outbox/outbox'],
      ['api/routes/x.ts', 'lib/inbound/events'],
      ['worker/x.ts', 'activities/index'],
      ['scripts/x.ts', 'sandbox/stack'],
    ];
    for (const [from, to] of allowed) assert.equal(layerViolation(from, to), undefined, `${from} → ${to}`);
  });

  it('the check sees every way of loading a module, type-only imports included', () => {
    const file = path.join(PROJECT_ROOT, 'lib', 'probe.ts');
    const probes = [
      "import { runLabResult } from '../workflows/runner';",
      "export { decide } from '../workflows/decide';",
      "import '../workflows/side-effects';",
      "const lazy = await import('../activities/lazy');",
      "const legacy = require('../api/legacy');",
      "import type { Draft } from '../workflows/draft';",
    ];
    for (const probe of probes) assert.equal(violationsIn(file, probe).length, 1, `caught: ${probe}`);
    const allowed = [
      "import { TASK_QUEUE } from '../workflows/definitions';",
      "const d = await import('../domain/vocabulary');",
      "import type { Pool } from 'pg';",
    ];
    for (const probe of allowed) assert.deepEqual(violationsIn(file, probe), [], probe);
  });

  it('production code does not import the sandbox', () => {
    // scripts/ may (the dev launcher starts the fakes); nothing that runs in production may.
    const dirs = ['api', 'activities', 'worker', 'lib', 'workflows', 'domain'];
    const offenders = dirs.flatMap((dir) =>
      tsFiles(path.join(PROJECT_ROOT, dir)).flatMap((file) =>
        loadsOf(readFileSync(file, 'utf8'), file)
          .filter((i) => i.resolved.startsWith('sandbox/'))
          .map((i) => `${path.relative(PROJECT_ROOT, file)} → ${i.specifier}`),
      ),
    );
    assert.deepEqual(offenders, []);
  });
});

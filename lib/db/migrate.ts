import path from 'node:path';
import { runner } from 'node-pg-migrate';
import { PROJECT_ROOT } from '../tools';

export const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'migrations');

/**
 * Apply every pending migration (plain SQL files under migrations/). Safe to call from several
 * processes at once: node-pg-migrate holds an advisory lock, and we wait for it instead of failing.
 */
export async function migrateUp(databaseUrl: string): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    count: Infinity,
    checkOrder: true,
    advisoryLockMode: 'wait',
    log: () => undefined,
  });
  return applied.map((m) => m.name);
}

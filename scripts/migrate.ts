/**
 * `node dist/scripts/migrate.js` (or `tsx scripts/migrate.ts`): apply every pending migration as the
 * schema owner, then exit. In production this is a one-shot job (the compose `migrate` service) run
 * before the API and the worker, which log in as the runtime role and only check that nothing is
 * pending. Connects with DATABASE_MIGRATION_URL, else DATABASE_URL.
 * Exit 0: up to date (one line per migration applied). Exit 1: failed, with the reason.
 */
import { z } from 'zod';
import { migrateUp } from '../lib/db/migrate';

const Url = z.string().startsWith('postgres', 'must be a postgres:// or postgresql:// URL');

async function run(): Promise<void> {
  const name = process.env.DATABASE_MIGRATION_URL ? 'DATABASE_MIGRATION_URL' : 'DATABASE_URL';
  const parsed = Url.safeParse(process.env[name]);
  if (!parsed.success) {
    throw new Error(
      `${name}: ${process.env[name] === undefined ? 'missing (set DATABASE_MIGRATION_URL to the schema owner)' : (parsed.error.issues[0]?.message ?? 'invalid')}`,
    );
  }
  const applied = await migrateUp(parsed.data);
  if (applied.length === 0) console.log('migrations: up to date');
  for (const migration of applied) console.log(`migrations: applied ${migration}`);
}

run().catch((err: unknown) => {
  console.error(`migrations failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

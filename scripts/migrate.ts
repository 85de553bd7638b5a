/**
 * `node dist/scripts/migrate.js` (or `tsx scripts/migrate.ts`): apply every pending migration as the
 * schema owner, then exit. In production this is a one-shot job (the compose `migrate` service) run
 * before the API and the worker, which log in as the runtime role and only check that nothing is
 * pending. Connects with DATABASE_MIGRATION_URL, else DATABASE_URL.
 *
 * A server that is not there yet (still starting, restarting after its init scripts, its database
 * not yet created) is waited for, up to DATABASE_WAIT_MS (lib/db/wait-for-database.ts), or
 * LABLOOP_MIGRATE_WAIT_SECONDS when set; a wrong password or role fails at once.
 * Exit 0: up to date (one line per migration applied). Exit 1: failed, with the reason.
 */
import { z } from 'zod';
import { migrateUp } from '../lib/db/migrate';
import { DATABASE_WAIT_MS, waitForDatabase } from '../lib/db/wait-for-database';

const Url = z.string().startsWith('postgres', 'must be a postgres:// or postgresql:// URL');
const WaitSeconds = z.coerce.number().int().min(0).max(3600);

function waitMs(): number {
  const raw = process.env.LABLOOP_MIGRATE_WAIT_SECONDS;
  if (raw === undefined || raw === '') return DATABASE_WAIT_MS;
  const parsed = WaitSeconds.safeParse(raw);
  if (!parsed.success) throw new Error('LABLOOP_MIGRATE_WAIT_SECONDS: must be a whole number of seconds (0-3600)');
  return parsed.data * 1000;
}

async function run(): Promise<void> {
  const name = process.env.DATABASE_MIGRATION_URL ? 'DATABASE_MIGRATION_URL' : 'DATABASE_URL';
  const parsed = Url.safeParse(process.env[name]);
  if (!parsed.success) {
    throw new Error(
      `${name}: ${process.env[name] === undefined ? 'missing (set DATABASE_MIGRATION_URL to the schema owner)' : (parsed.error.issues[0]?.message ?? 'invalid')}`,
    );
  }
  const timeoutMs = waitMs();
  let waiting = false;
  await waitForDatabase(parsed.data, {
    timeoutMs,
    onRetry: (_attempt, reason) => {
      if (waiting) return;
      waiting = true;
      console.log(`migrations: waiting up to ${Math.round(timeoutMs / 1000)} s for PostgreSQL (${reason})`);
    },
  });
  const applied = await migrateUp(parsed.data);
  if (applied.length === 0) console.log('migrations: up to date');
  for (const migration of applied) console.log(`migrations: applied ${migration}`);
}

run().catch((err: unknown) => {
  console.error(`migrations failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

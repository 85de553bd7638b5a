import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../sandbox/servers/embedded-postgres';

const INIT = path.resolve(__dirname, '../../deploy/postgres-init');

/**
 * The SQL of compose's PostgreSQL init scripts (deploy/postgres-init/*.sh), run the way the image's
 * entrypoint runs them (as the superuser, in file order), on a server of its own (roles are
 * cluster-wide). Each heredoc is one psql call; `--dbname X` picks its database.
 */
const PASSWORDS: Record<string, string> = { temporal: 'temporal-pw', labloop: 'labloop-pw', labloop_owner: 'owner-pw' };

function initStatements(): { dbname: string; sql: string }[] {
  const vars: Record<string, string> = {
    TEMPORAL_DB_PASSWORD: PASSWORDS.temporal ?? '',
    LABLOOP_DB_PASSWORD: PASSWORDS.labloop ?? '',
    LABLOOP_OWNER_DB_PASSWORD: PASSWORDS.labloop_owner ?? '',
  };
  const out: { dbname: string; sql: string }[] = [];
  for (const file of ['05-temporal.sh', '10-labloop.sh']) {
    const text = readFileSync(path.join(INIT, file), 'utf8');
    for (const m of text.matchAll(/^psql [^\n]*?(?:--dbname (\w+))? <<SQL\n([\s\S]*?)\nSQL$/gm))
      out.push({
        dbname: m[1] ?? 'postgres',
        sql: (m[2] ?? '').replace(/\$\{(\w+)\}/g, (_, v: string) => vars[v] ?? ''),
      });
  }
  return out;
}

void describe('compose PostgreSQL roles: Temporal and labloop share no superuser', () => {
  let server: EmbeddedDatabase;
  const urlFor = (user: string, db: string) => {
    const u = new URL(server.adminUrl);
    u.username = user;
    if (user !== 'postgres') u.password = PASSWORDS[user] ?? '';
    u.pathname = `/${db}`;
    return u.toString();
  };
  const as = async <T>(user: string, db: string, work: (c: pg.Client) => Promise<T>) => {
    const c = new pg.Client({ connectionString: urlFor(user, db) });
    await c.connect();
    try {
      return await work(c);
    } finally {
      await c.end();
    }
  };
  before(async () => {
    server = await startEmbeddedPostgres();
    const statements = initStatements();
    assert.equal(statements.length, 3, 'three psql calls in the init scripts');
    // psql sends each statement on its own (CREATE DATABASE refuses a multi-statement transaction).
    for (const { dbname, sql } of statements)
      await as('postgres', dbname, async (c) => {
        for (const statement of sql.split(/;\n/).filter((x) => x.trim() !== '')) await c.query(statement);
      });
  });
  after(async () => {
    await server?.stop();
  });

  void it('creates temporal, labloop_owner and labloop as ordinary roles', async () => {
    const roles = await as('postgres', 'postgres', (c) =>
      c.query<{ rolname: string; rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean }>(
        `SELECT rolname, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles
          WHERE rolname IN ('temporal', 'labloop_owner', 'labloop') ORDER BY rolname`,
      ),
    );
    assert.deepEqual(roles.rows, [
      { rolname: 'labloop', rolsuper: false, rolcreaterole: false, rolcreatedb: false },
      { rolname: 'labloop_owner', rolsuper: false, rolcreaterole: false, rolcreatedb: false },
      // CREATEDB for temporal-sql-tool's `create` (deploy/temporal/setup-schema.sh), nothing more.
      { rolname: 'temporal', rolsuper: false, rolcreaterole: false, rolcreatedb: true },
    ]);
  });

  void it("lets Temporal create and own its databases, and keeps it out of labloop's", async () => {
    await as('temporal', 'postgres', (c) => c.query('CREATE DATABASE temporal'));
    const owner = await as('postgres', 'postgres', (c) =>
      c.query<{ owner: string }>(`SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'temporal'`),
    );
    assert.equal(owner.rows[0]?.owner, 'temporal');
    await assert.rejects(
      as('temporal', 'labloop', (c) => c.query('SELECT 1')),
      /permission denied for database "labloop"/,
    );
    // labloop's own roles connect; its owner owns the schema but is no superuser.
    const me = await as('labloop_owner', 'labloop', (c) =>
      c.query<{ me: string; su: string }>(`SELECT current_user AS me, current_setting('is_superuser') AS su`),
    );
    assert.deepEqual(me.rows[0], { me: 'labloop_owner', su: 'off' });
    await as('labloop', 'labloop', (c) => c.query('SELECT 1'));
  });
});

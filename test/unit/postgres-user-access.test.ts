import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { letPostgresUserReach } from '../../sandbox/servers/postgres-user-access';

const mode = (dir: string) => statSync(dir).mode & 0o7777;

describe('letPostgresUserReach: the embedded server’s OS user can enter a private checkout', () => {
  // mktemp -d: 0700, as a clean clone under `mktemp -d` has it.
  const root = mkdtempSync(path.join(tmpdir(), 'labloop-reach-'));
  const uid = statSync(root).uid;
  after(() => rmSync(root, { recursive: true, force: true }));

  it('adds the search bit for others, and nothing else, to each of our directories that lacks it', () => {
    const nested = path.join(root, 'p', 'node_modules', 'bin');
    mkdirSync(nested, { recursive: true });
    chmodSync(root, 0o700);
    chmodSync(path.join(root, 'p'), 0o750);
    const before = mode(nested);
    assert.equal(mode(root) & 0o001, 0);

    const changed = letPostgresUserReach([nested], uid);

    assert.deepEqual(changed, [path.join(root, 'p'), root]);
    assert.equal(mode(root), 0o701, 'search only: no read, no write');
    assert.equal(mode(path.join(root, 'p')), 0o751);
    assert.equal(mode(nested), before, 'a directory others could already enter is left alone');
    assert.deepEqual(letPostgresUserReach([nested], uid), [], 'a second start changes nothing');
  });

  it('refuses to change a directory of another owner, and names it', () => {
    const closed = path.join(root, 'closed');
    mkdirSync(closed, { mode: 0o700 });
    chmodSync(closed, 0o700);
    assert.throws(
      () => letPostgresUserReach([path.join(closed)], uid + 1),
      (err: Error) => err.message.includes(`cannot enter ${closed} (mode 700`) && /DATABASE_URL/.test(err.message),
    );
    assert.equal(mode(closed), 0o700);
  });
});

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * Where signed anchors (lib/audit/external-anchor.ts) are kept, outside the database: a directory
 * on another volume by default, an S3 bucket with Object Lock in production
 * (lib/audit/anchor-store-s3.ts). Write-once: `put` never replaces an object, it reports that one of
 * that name exists.
 */
export interface AnchorStore {
  /** For messages: where the anchors are (a path, an s3:// URL). */
  readonly description: string;
  put(name: string, body: string): Promise<'written' | 'exists'>;
  /** Every anchor object's name, in no particular order. */
  list(): Promise<string[]>;
  get(name: string): Promise<string>;
}

/** Object names are generated (external-anchor.ts); anything else in the store is ignored. */
export const ANCHOR_OBJECT_NAME = /^audit-anchor-\d{16}-\d{16}-[0-9a-f]{16}\.json$/;

/**
 * A directory, ideally on a volume the database host cannot write (another disk, an NFS export
 * mounted append-only, a WORM share). Files are written under a temporary name, flushed, then
 * hard-linked to their final name, which fails if that name exists: no anchor is ever replaced or
 * seen half-written. They are left read-only (0444).
 */
export function directoryAnchorStore(dir: string): AnchorStore {
  return {
    description: dir,
    async put(name, body) {
      assertName(name);
      await fs.mkdir(dir, { recursive: true });
      const final = path.join(dir, name);
      const temp = path.join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
      const handle = await fs.open(temp, 'wx', 0o444);
      try {
        await handle.writeFile(body, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      try {
        await fs.link(temp, final);
        return 'written';
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
        throw error;
      } finally {
        await fs.unlink(temp).catch(() => undefined);
        await syncDir(dir);
      }
    },
    async list() {
      try {
        return (await fs.readdir(dir)).filter((n) => ANCHOR_OBJECT_NAME.test(n));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
    },
    async get(name) {
      assertName(name);
      return fs.readFile(path.join(dir, name), 'utf8');
    },
  };
}

function assertName(name: string): void {
  if (!ANCHOR_OBJECT_NAME.test(name)) throw new Error(`not an anchor object name: ${JSON.stringify(name)}`);
}

/** The new directory entry survives a crash only once the directory itself is flushed. */
async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r').catch(() => undefined);
  if (handle === undefined) return;
  try {
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the file itself is flushed.
  } finally {
    await handle.close();
  }
}

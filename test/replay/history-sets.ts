import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/**
 * Replay histories, kept per code version (docs/workflow.md, "Shipping a workflow change"). Each
 * set is a folder under test/replay/histories/ (`v1`, `v2`, …) with a manifest: the patches the
 * recording code had (workflows/patches.ts) and the SHA-256 of every history in it. Histories are
 * added, never re-recorded: the recorder refuses to overwrite a file, and the replay test fails for
 * a file whose digest is not its manifest's, so a re-recording shows up as a changed manifest line.
 * The newest set is the one the current code records into; its patches are the current ones.
 */

export const HISTORIES_DIR = path.join(__dirname, 'histories');
const MANIFEST = 'manifest.json';

const ManifestSchema = z.object({
  /** What code recorded this set (one line, for people). */
  recordedBy: z.string().min(1),
  /** Patch IDs the recording code had (all of them on). */
  patches: z.array(z.string().min(1)),
  /** History file name → SHA-256 (hex) of its bytes. */
  files: z.record(z.string().regex(/^[a-z0-9-]+\.json$/), z.string().regex(/^[0-9a-f]{64}$/)),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export interface HistorySet {
  name: string;
  dir: string;
  manifest: Manifest;
}

/** `v7` → 7; other folder names are not sets. */
function setNumber(name: string): number | undefined {
  const match = /^v(\d+)$/.exec(name);
  return match === null ? undefined : Number(match[1]);
}

/** Every set, oldest first. */
export function historySets(): HistorySet[] {
  return readdirSync(HISTORIES_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory() && setNumber(e.name) !== undefined)
    .sort((a, b) => (setNumber(a.name) as number) - (setNumber(b.name) as number))
    .map((e) => {
      const dir = path.join(HISTORIES_DIR, e.name);
      const file = path.join(dir, MANIFEST);
      if (!existsSync(file)) throw new Error(`${e.name}: history set without ${MANIFEST}`);
      return { name: e.name, dir, manifest: ManifestSchema.parse(JSON.parse(readFileSync(file, 'utf8'))) };
    });
}

export function newestSet(): HistorySet {
  const sets = historySets();
  const newest = sets[sets.length - 1];
  if (newest === undefined) throw new Error(`no history set under ${HISTORIES_DIR}`);
  return newest;
}

export function digestOf(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** The history files of a set (manifest excluded), sorted. */
export function historyFiles(set: HistorySet): string[] {
  return readdirSync(set.dir)
    .filter((f) => f.endsWith('.json') && f !== MANIFEST)
    .sort();
}

/** Record a newly added history in its set's manifest (never replaces an entry). */
export function addToManifest(set: HistorySet, file: string): void {
  if (set.manifest.files[file] !== undefined) throw new Error(`${set.name}/${file} is already in the manifest`);
  const files = { ...set.manifest.files, [file]: digestOf(path.join(set.dir, file)) };
  const sorted = Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b)));
  set.manifest = { ...set.manifest, files: sorted };
  writeFileSync(path.join(set.dir, MANIFEST), `${JSON.stringify(set.manifest, null, 2)}\n`);
}

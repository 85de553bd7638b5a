import type { Pool } from 'pg';
import type { Observation, ResultSource } from '../../domain/lab-result';
import { resultLinkRef, resultRef, type ResultIdentity, type ResultLinkKey } from '../result-ref';

/**
 * Identity linking: one lab result seen through two sources is one workflow.
 *
 * A lab that reports to labloop over HL7 usually reports the same result to athena too, where it
 * becomes a lab-result document with an ID of athena's own. The two IDs have nothing in common, but
 * athena's document keeps the lab's accession number (`externalaccessionid`), the panel's LOINC
 * (`labresultloinc`) and the patient, which the HL7 ORU carries as OBR-3.1, OBR-4 and PID-3. The
 * hand-off resolves every result through the `result_alias` table (migrations/600_result_alias.sql):
 *
 * 1. The result's own identity is looked up. Once mapped it stays mapped: every later version from
 *    the same source resolves the same way.
 * 2. A new identity with a link key first claims the link key for itself (insert, or read the
 *    earlier claim), then maps its identity to whoever holds the link, if that is another source
 *    (two labs' HL7 results are never merged: a filler number is unique only within its lab).
 *    Claiming before mapping makes two sources that arrive at once agree: the unique key admits one
 *    claim, and both read it.
 * 3. Without a link key (FHIR, a facility that sends athena's own IDs, an OBR-4 without a LOINC, a
 *    placer number only) the identity maps to itself, as before linking existed.
 *
 * The source that claimed first is the result's **primary** source: its versions are the result's
 * versions. A version from any other source is **secondary**: the hand-off does not deliver its
 * content (two renderings of one result differ in codes, flags and ranges, and the workflow would take
 * the second for a correction and notify the patient again). What a secondary source adds is its
 * sign-off (athena's `isreviewedbyprovider`), applied only when its values are the ones the primary
 * version shows (see {@link sameReportedValues}), and the guarantee that nothing is lost: a secondary
 * version whose result's workflow was never started starts it.
 */

/** How a result's identity resolved. */
export interface ResolvedResult {
  /** The result reference of the workflow that owns the result (`lab-result-{practice}-{ref}`). */
  resultRef: string;
  /** This source's own reference for it; equal to `resultRef` when this source is the primary one. */
  ownRef: string;
  /** This hand-off mapped the identity to a result another source defined (first link). */
  newlyLinked: boolean;
}

type Db = Pick<Pool, 'query'>;

interface AliasRow {
  resultRef: string;
  source: string;
}

async function lookup(db: Db, practiceId: string, aliasRef: string): Promise<AliasRow | undefined> {
  const { rows } = await db.query<{ result_ref: string; source: string }>(
    'SELECT result_ref, source FROM result_alias WHERE practice_id = $1 AND alias_ref = $2',
    [practiceId, aliasRef],
  );
  const row = rows[0];
  return row === undefined ? undefined : { resultRef: row.result_ref, source: row.source };
}

async function insert(
  db: Db,
  row: { practiceId: string; aliasRef: string; target: string; kind: 'identity' | 'link'; source: ResultSource },
): Promise<void> {
  // DO NOTHING without a conflict target: also the one-link-per-result index (a result keeps its first link).
  await db.query(
    `INSERT INTO result_alias (practice_id, alias_ref, result_ref, kind, source) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT DO NOTHING`,
    [row.practiceId, row.aliasRef, row.target, row.kind, row.source],
  );
}

/**
 * Resolves one result to the reference of its workflow, recording what this source calls it. Each
 * statement commits on its own (or with the caller's transaction), and every decision is a unique
 * insert followed by a read, so concurrent hand-offs of one result agree without further locking.
 */
export async function resolveResult(
  db: Db,
  secret: string,
  source: ResultSource,
  identity: ResultIdentity,
  link: ResultLinkKey | undefined,
): Promise<ResolvedResult> {
  const { practiceId } = identity;
  const ownRef = resultRef(secret, identity);
  const known = await lookup(db, practiceId, ownRef);
  const linkRef = link === undefined ? undefined : resultLinkRef(secret, practiceId, link);
  if (known !== undefined) {
    // A result defined before it had a link key (or before linking existed) takes its first one now.
    if (linkRef !== undefined && known.resultRef === ownRef) {
      await insert(db, { practiceId, aliasRef: linkRef, target: ownRef, kind: 'link', source });
    }
    return { resultRef: known.resultRef, ownRef, newlyLinked: false };
  }

  let target = ownRef;
  if (linkRef !== undefined) {
    await insert(db, { practiceId, aliasRef: linkRef, target: ownRef, kind: 'link', source });
    const holder = await lookup(db, practiceId, linkRef);
    if (holder !== undefined && holder.source !== source) {
      // The holder's own identity row says which workflow it is (its own ref, unless it was itself linked).
      target = (await lookup(db, practiceId, holder.resultRef))?.resultRef ?? holder.resultRef;
    }
  }
  await insert(db, { practiceId, aliasRef: ownRef, target, kind: 'identity', source });
  const resolved = (await lookup(db, practiceId, ownRef))?.resultRef ?? target;
  return { resultRef: resolved, ownRef, newlyLinked: resolved !== ownRef };
}

/** A reported value as two renderings of one result agree on it: case, blanks and number formatting aside. */
function normalisedValue(value: string): string {
  const text = value.trim().replace(/\s+/g, ' ').toUpperCase();
  const numeric = /^([<>]=?)?\s*([+-]?(?:\d+\.?\d*|\.\d+))$/.exec(text);
  if (numeric === null) return text;
  return `${numeric[1] ?? ''}${String(Number(numeric[2]))}`;
}

/**
 * Whether two renderings of a result report the same values: the same number of observations with
 * the same values (as a multiset, in any order). Codes, flags, units and ranges are written
 * differently by the lab's ORU and athena's document (local codes vs LOINC, `H` vs `ABNORMAL`), while
 * the values are what a correction changes. A sign-off from the secondary source is applied only when
 * this holds for the version the primary source delivered, so a provider's review in athena never
 * signs values it did not show. Nothing to compare (no observations) is never the same.
 */
export function sameReportedValues(a: readonly Observation[], b: readonly Observation[]): boolean {
  if (a.length === 0 || a.length !== b.length) return false;
  const left = a.map((o) => normalisedValue(o.value)).sort();
  const right = b.map((o) => normalisedValue(o.value)).sort();
  return left.every((value, i) => value === right[i]);
}

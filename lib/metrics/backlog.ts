import type { Pool } from 'pg';
import { Registry } from 'prom-client';
import { unsignedBacklog, type UnsignedBacklogRow } from '../review/queue';
import { PRACTICES, VOCABULARIES } from './labels';
import { guardedGauge } from './registry';

/**
 * The unsigned backlog, by practice, acuity and age bucket: a gauge read from the review queue
 * (review_item, the same rows the queue page shows) when scraped. One query at most every
 * BACKLOG_CACHE_MS, whatever the number of scrapers; a failed query keeps the last figures (and
 * says so in labloop_unsigned_backlog_stale) rather than failing the whole scrape.
 */

/** Prometheus scrapes every 15-60 s; figures up to 15 s old are as good, and cost one query. */
export const BACKLOG_CACHE_MS = 15_000;

/** A registry holding the backlog gauges, to merge into the API's scrape (the worker does not serve it). */
export function unsignedBacklogRegistry(pool: Pool, cacheMs = BACKLOG_CACHE_MS): Registry {
  const registry = new Registry();
  let cached: { at: number; rows: UnsignedBacklogRow[] } | undefined;
  let inFlight: Promise<UnsignedBacklogRow[]> | undefined;
  let stale = false;
  const read = async (): Promise<UnsignedBacklogRow[]> => {
    if (cached !== undefined && Date.now() - cached.at < cacheMs) return cached.rows;
    inFlight ??= unsignedBacklog(pool)
      .then((rows) => {
        cached = { at: Date.now(), rows };
        stale = false;
        return rows;
      })
      .catch(() => {
        stale = true;
        return cached?.rows ?? [];
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };
  guardedGauge(
    'labloop_unsigned_backlog',
    'Results waiting for a provider sign-off (not signed, not closed), by acuity and age since received (read from the review queue at scrape time, cached 15 s).',
    { practice: PRACTICES, acuity: VOCABULARIES.acuity, age: VOCABULARIES.backlogAge },
    [registry],
    async (add, reset) => {
      const rows = await read();
      reset();
      for (const row of rows) add({ practice: row.practice_id, acuity: row.acuity, age: row.age }, row.n);
    },
  );
  guardedGauge(
    'labloop_unsigned_backlog_stale',
    '1 when the last backlog query failed and labloop_unsigned_backlog shows older figures.',
    {},
    [registry],
    async (add, reset) => {
      await read();
      reset();
      add({}, stale ? 1 : 0);
    },
  );
  return registry;
}

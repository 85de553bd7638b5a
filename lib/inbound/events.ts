import type { Pool, PoolClient } from 'pg';
import { deliverSignals, type ConsentChangeDeps, type PendingSignal } from '../consent/apply-change';

/**
 * The record of every webhook event labloop received (`inbound_event`): this module is the only one
 * that reads or writes the table. An event is recorded under its vendor key before it is acted on,
 * so re-deliveries and duplicates change nothing twice.
 *
 * The signals an inbound webhook event (inbound_event) owes the open workflows once its database
 * work has committed. They are stored with that work, in the same transaction, so a crash or an
 * unreachable Temporal between the commit and the signals leaves the event at `received` with its
 * list, and the sweeper (lib/inbound/sweeper.ts) or a re-delivery finishes it; nothing committed goes
 * unsignalled. Channel is the inbound_event channel (`sms` for Twilio, `spruce`).
 */

export type InboundChannel = 'sms' | 'spruce';

/**
 * Store what the event owes, in the caller's open transaction, with what the event was made into
 * (`kind`, e.g. `reply`), so whoever finishes it (this request, a re-delivery, the sweeper) leaves
 * the same record. Replaces an earlier list: a re-run of the same event computes the same one.
 */
export async function recordPendingSignals(
  client: PoolClient,
  channel: InboundChannel,
  eventKey: string,
  signals: readonly PendingSignal[],
  kind?: string,
): Promise<void> {
  await client.query(
    `UPDATE inbound_event SET pending_signals = $3::jsonb, kind = COALESCE($4, kind)
     WHERE channel = $1 AND event_key = $2`,
    [channel, eventKey, JSON.stringify(signals), kind ?? null],
  );
}

/**
 * Send what the event owes, then mark it processed (with `kind`, when given) and clear the list.
 * Throws when a signal fails: the event then stays `received` with its list for the next try.
 */
export async function finishInboundEvent(
  deps: Pick<ConsentChangeDeps, 'pool' | 'signaller'>,
  channel: InboundChannel,
  eventKey: string,
  signals: readonly PendingSignal[],
  kind?: string,
): Promise<number> {
  const signalled = await deliverSignals(deps, signals);
  await markProcessed(deps.pool, channel, eventKey, kind);
  return signalled;
}

/** Mark an inbound event processed and clear what it owed. */
export async function markProcessed(
  db: Pool | PoolClient,
  channel: InboundChannel,
  eventKey: string,
  kind?: string,
): Promise<void> {
  await db.query(
    `UPDATE inbound_event SET status = 'processed', kind = COALESCE($3, kind), processed_at = now(), pending_signals = NULL
     WHERE channel = $1 AND event_key = $2`,
    [channel, eventKey, kind ?? null],
  );
}

/** An inbound SMS's event row, as its first write found or left it. */
export interface ClaimedEvent {
  status: string;
  /** What an earlier delivery committed and still owes, if it failed before its signals. */
  pendingSignals: PendingSignal[] | null;
}

/**
 * Record an inbound SMS under its MessageSid in the caller's open transaction, or find the row an
 * earlier delivery left. The row lock of this insert is held to the commit: a concurrent copy of the
 * message waits and then finds the work done.
 */
export async function claimSmsEvent(
  client: PoolClient,
  messageSid: string,
  kind: string,
  practiceId: string | undefined,
): Promise<ClaimedEvent | undefined> {
  const { rows } = await client.query<{ status: string; pending_signals: PendingSignal[] | null }>(
    `INSERT INTO inbound_event (channel, event_key, subject_id, kind, practice_id, status)
     VALUES ('sms', $1, $1, $2, $3, 'received')
     ON CONFLICT (channel, event_key) DO UPDATE SET kind = EXCLUDED.kind
     RETURNING status, pending_signals`,
    [messageSid, kind, practiceId ?? null],
  );
  const row = rows[0];
  return row === undefined ? undefined : { status: row.status, pendingSignals: row.pending_signals };
}

/** Record a Twilio status callback (`status:<sid>:<status>`); returns the event's status. */
export async function recordStatusCallbackEvent(
  db: Pick<Pool, 'query'>,
  eventKey: string,
  messageSid: string,
): Promise<string | undefined> {
  const { rows } = await db.query<{ status: string }>(
    `INSERT INTO inbound_event (channel, event_key, subject_id, kind, status) VALUES ('sms', $1, $2, 'delivery', 'received')
     ON CONFLICT (channel, event_key) DO UPDATE SET kind = EXCLUDED.kind RETURNING status`,
    [eventKey, messageSid],
  );
  return rows[0]?.status;
}

/** Record a signed Spruce event that could not be read (kept `received`, for a later re-fetch). */
export async function recordUnreadableSpruceEvent(
  db: Pick<Pool, 'query'>,
  eventKey: string,
  itemId: string | undefined,
): Promise<void> {
  await db.query(
    `INSERT INTO inbound_event (channel, event_key, subject_id, kind, status) VALUES ('spruce', $1, $2, 'unreadable', 'received')
     ON CONFLICT (channel, event_key) DO NOTHING`,
    [eventKey, itemId ?? null],
  );
}

/**
 * Record a Spruce item event; returns its status and whether a newer event (by `eventTime`) of the
 * same item was already processed.
 */
export async function recordSpruceItemEvent(
  db: Pick<Pool, 'query'>,
  eventKey: string,
  itemId: string,
  eventTime: Date,
): Promise<{ status: string; stale: boolean } | undefined> {
  const { rows } = await db.query<{ status: string; stale: boolean }>(
    `INSERT INTO inbound_event (channel, event_key, subject_id, event_time, status)
     VALUES ('spruce', $1, $2, $3, 'received')
     ON CONFLICT (channel, event_key) DO UPDATE SET event_time = GREATEST(inbound_event.event_time, EXCLUDED.event_time)
     RETURNING status,
       EXISTS (SELECT 1 FROM inbound_event newer WHERE newer.channel = 'spruce' AND newer.subject_id = $2
               AND newer.event_key <> $1 AND newer.status = 'processed' AND newer.event_time > $3) AS stale`,
    [eventKey, itemId, eventTime],
  );
  return rows[0];
}

/** The other processed Spruce events of one item that were acted on as one of `kinds`. */
export async function processedSpruceEventsOf(
  db: Pick<Pool, 'query'>,
  itemId: string,
  exceptEventKey: string,
  kinds: readonly string[],
): Promise<{ kind: string | null; eventTime: Date | null }[]> {
  const { rows } = await db.query<{ kind: string | null; event_time: Date | null }>(
    `SELECT kind, event_time FROM inbound_event
     WHERE channel = 'spruce' AND subject_id = $1 AND event_key <> $2 AND status = 'processed' AND kind = ANY($3::text[])`,
    [itemId, exceptEventKey, [...kinds]],
  );
  return rows.map((r) => ({ kind: r.kind, eventTime: r.event_time }));
}

/** A parked delivery report was replayed: its webhook event is processed (as a delivery). */
export async function markDeliveryEventProcessed(
  db: Pick<Pool, 'query'>,
  channel: InboundChannel,
  eventKey: string,
): Promise<void> {
  await db.query(
    `UPDATE inbound_event SET status = 'processed', kind = 'delivery', processed_at = now()
     WHERE channel = $1 AND event_key = $2`,
    [channel, eventKey],
  );
}

/**
 * The oldest event still owing signals, older than `minAgeMs` and not in `skip`, locked for the
 * caller's transaction (`FOR UPDATE SKIP LOCKED`: two sweepers never take the same one).
 */
export async function takeStuckEvent(
  client: PoolClient,
  minAgeMs: number,
  skip: readonly string[],
): Promise<{ id: string; pendingSignals: PendingSignal[] } | undefined> {
  const { rows } = await client.query<{ id: string; pending_signals: PendingSignal[] }>(
    `SELECT id, pending_signals FROM inbound_event
     WHERE status = 'received' AND pending_signals IS NOT NULL
       AND received_at < now() - make_interval(secs => $1::double precision / 1000)
       AND NOT (id = ANY($2::bigint[]))
     ORDER BY received_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`,
    [minAgeMs, [...skip]],
  );
  const row = rows[0];
  return row === undefined ? undefined : { id: row.id, pendingSignals: row.pending_signals };
}

/** Mark an event (by row id) processed and clear what it owed. */
export async function markProcessedById(client: PoolClient, id: string): Promise<void> {
  await client.query(
    `UPDATE inbound_event SET status = 'processed', processed_at = now(), pending_signals = NULL WHERE id = $1`,
    [id],
  );
}

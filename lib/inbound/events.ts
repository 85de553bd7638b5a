import type { Pool, PoolClient } from 'pg';
import { deliverSignals, type ConsentChangeDeps, type PendingSignal } from '../consent/apply-change';

/**
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

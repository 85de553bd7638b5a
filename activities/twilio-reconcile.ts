import { TwilioSendError } from '../lib/clients/twilio';
import type { ActivityDeps } from './deps';
import { recordedProviderIds, type ReconcileResult } from '../lib/outbox/outbox';

/**
 * How far before the intent row's timestamp reconciliation looks. Twilio's `date_created` has whole
 * seconds and its clock is not ours: a minute of slack covers both without reaching back to texts
 * from an earlier hour (and already-recorded SIDs are skipped anyway).
 */
export const RECONCILE_CLOCK_SKEW_MS = 60_000;

/**
 * After an attempt whose outcome is unknown (a 5xx, a timeout or a reset on the create), find the
 * text it may have created: a message to the same number with exactly this body, sent since the
 * intent was recorded, whose SID no other send of this outbox channel already owns. The oldest such
 * message is ours.
 */
export async function reconcileTwilioSend(
  deps: Pick<ActivityDeps, 'pool' | 'sms'>,
  channel: 'sms' | 'page',
  to: string,
  body: string,
  intentCreatedAt: Date,
): Promise<ReconcileResult> {
  let found;
  try {
    found = await deps.sms.findRecentMessages({
      to,
      sentAfter: new Date(intentCreatedAt.getTime() - RECONCILE_CLOCK_SKEW_MS),
    });
  } catch (err) {
    return {
      kind: 'unknown',
      reason: err instanceof TwilioSendError ? `twilio-list-${err.code ?? err.networkCode ?? 'failed'}` : 'list-failed',
    };
  }
  const candidates = found.filter((m) => m.body === body);
  const taken = await recordedProviderIds(
    deps.pool,
    channel,
    candidates.map((m) => m.sid),
  );
  const ours = candidates
    .filter((m) => !taken.has(m.sid))
    .sort((a, b) => Date.parse(a.dateCreated) - Date.parse(b.dateCreated))[0];
  return ours === undefined ? { kind: 'not-found' } : { kind: 'found', providerMessageId: ours.sid };
}

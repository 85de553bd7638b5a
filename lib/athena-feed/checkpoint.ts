import type { Pool } from 'pg';

/**
 * The changed-data feed's checkpoint: the instant up to which every record athena marked processed
 * has been handed to Temporal. It only moves forward (a late, slower poll cannot move it back).
 */
export interface FeedCheckpointStore {
  /** Undefined before the practice's first poll. */
  get(practiceId: string): Promise<Date | undefined>;
  /**
   * Records `firstAttempt` as the checkpoint unless the practice has one. Called before the first
   * destructive read, so a first poll that fails after reading still leaves a checkpoint from which
   * the next poll's re-read window covers what it read, however much later that poll runs.
   */
  ensure(practiceId: string, firstAttempt: Date): Promise<void>;
  /** Moves the checkpoint to `polledThrough` unless it is already later. */
  advance(practiceId: string, polledThrough: Date): Promise<void>;
}

export function createFeedCheckpointStore(pool: Pool): FeedCheckpointStore {
  return {
    async get(practiceId) {
      const { rows } = await pool.query<{ polled_through: Date }>(
        'SELECT polled_through FROM athena_feed_checkpoint WHERE practice_id = $1',
        [practiceId],
      );
      return rows[0]?.polled_through;
    },
    async ensure(practiceId, firstAttempt) {
      await pool.query(
        `INSERT INTO athena_feed_checkpoint (practice_id, polled_through) VALUES ($1, $2)
         ON CONFLICT (practice_id) DO NOTHING`,
        [practiceId, firstAttempt],
      );
    },
    async advance(practiceId, polledThrough) {
      await pool.query(
        `INSERT INTO athena_feed_checkpoint (practice_id, polled_through) VALUES ($1, $2)
         ON CONFLICT (practice_id) DO UPDATE
           SET polled_through = GREATEST(athena_feed_checkpoint.polled_through, EXCLUDED.polled_through),
               updated_at = now()`,
        [practiceId, polledThrough],
      );
    },
  };
}

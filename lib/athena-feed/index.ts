/** The athena changed-data feed and ingest bookkeeping: checkpoint, refetch windows, per-result lock, dead letters, schedules. */
export { createFeedCheckpointStore, type FeedCheckpointStore } from './checkpoint';
export { recordDeadLetter, resolveDeadLetter, type DeadLetterEntry, type IngestTrigger } from './dead-letter';
export { withResultLock, RESULT_LOCK_TIMEOUT_MS } from './result-lock';
export {
  isAmbiguousEasternTime,
  planRefetchWindows,
  REFETCH_CHUNK_MS,
  REFETCH_MARGIN_MS,
  type FeedWindow,
} from './windows';
export {
  ensureAthenaFeedSchedule,
  ensureAthenaFeedSubscription,
  ensureAthenaFeeds,
  DEFAULT_ATHENA_POLL_INTERVAL_SECONDS,
} from './schedule';

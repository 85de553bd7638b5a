/**
 * The activity surface of the athena ingest workflows (workflows/athena-ingest.ts), kept apart from
 * the lab-result workflow's contract. Requests and answers are plain JSON with IDs only.
 */
/** What made labloop read an athena document (also recorded with a dead letter). */
export type IngestTrigger = 'webhook' | 'feed' | 'replay';

/** One athena lab-result document, by the IDs its REST path needs. */
export interface AthenaResultRef {
  /** labloop's practice ID (the registry maps it to athena's practice ID). */
  practiceId: string;
  labResultId: string;
  patientId: string;
}

export interface IngestAthenaLabResultRequest extends AthenaResultRef {
  trigger: IngestTrigger;
}

export type AthenaIngestOutcome =
  /**
   * The current version is with the result's workflow (`duplicate`: it already was). `linked`: the
   * workflow belongs to the same result seen first through another source (the lab's HL7), and this
   * is what the version did there (lib/ingest/handoff.ts, LinkEvent).
   */
  | {
      kind: 'handed-off';
      workflowId: string;
      duplicate: boolean;
      signedOff: boolean;
      linked?: 'started' | 'recorded' | 'sign-off-applied' | 'sign-off-already' | 'sign-off-withheld';
    }
  /** athena no longer has the document at that path (deleted, or re-filed to another patient). */
  | { kind: 'gone' }
  /** A problem retrying cannot fix; recorded in athena_ingest_dead_letter for an operator. */
  | { kind: 'dead-lettered'; reason: string };

export interface ChangedFeedBatch {
  practiceId: string;
  refs: AthenaResultRef[];
  /**
   * Up to when everything athena marked processed was read (ISO): the checkpoint to store once
   * every ref is handed off. Earlier than the poll's start when a long gap was read only in part.
   */
  readThrough: string;
}

export interface AthenaIngestActivities {
  /**
   * Reads the current document and patient from athena, maps them, and hands the result to its
   * lab-result workflow with signal-with-start (deduplicated by the version marker).
   */
  ingestAthenaLabResult(request: IngestAthenaLabResultRequest): Promise<AthenaIngestOutcome>;
  /** Destructive read of the changed feed plus a refetch of what was processed since the checkpoint. */
  readAthenaChangedFeed(input: { practiceId: string }): Promise<ChangedFeedBatch>;
  /** Moves the feed checkpoint forward (never back). */
  advanceAthenaFeedCheckpoint(input: { practiceId: string; polledThrough: string }): Promise<void>;
}

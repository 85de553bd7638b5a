import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import { ACUITIES, RESULT_STATUSES } from '../domain/lab-result';
import { WORKFLOW_STATES } from '../domain/vocabulary';
import { storeReviewItem } from '../lib/review/queue';
import type { LabloopActivities, ReviewItem } from '../domain/activity-contract';
import type { ActivityDeps } from './deps';

/** Failure type of a snapshot that can never be stored (a bug in the caller, not a passing fault). */
export const INVALID_REVIEW_ITEM_ERROR = 'InvalidReviewItemError';

const isoInstant = z.iso.datetime({ offset: true });

const ReviewItemSchema = z.object({
  workflowId: z.string().min(1),
  practiceId: z.string().min(1),
  patientId: z.string().min(1),
  patientName: z.string().optional(),
  panelName: z.string().optional(),
  orderingProviderId: z.string().optional(),
  acuity: z.enum(ACUITIES),
  resultStatus: z.enum(RESULT_STATUSES),
  state: z.enum(WORKFLOW_STATES),
  signed: z.boolean(),
  signedBy: z.string().optional(),
  signedAt: isoInstant.optional(),
  receivedAt: isoInstant,
  slaDeadline: isoInstant.optional(),
  escalationLevel: z.number().int().min(0),
  criticalPagedAt: isoInstant.optional(),
  version: z.number().int().min(0),
  updatedAt: isoInstant.optional(),
});

/** Parse a snapshot; a malformed one fails for good with the field named (retrying cannot fix it). */
export function parseReviewItem(item: unknown): ReviewItem {
  const parsed = ReviewItemSchema.safeParse(item);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'item'}: ${i.message}`).join('; ');
  throw ApplicationFailure.nonRetryable(`review item rejected: ${problems}`, INVALID_REVIEW_ITEM_ERROR);
}

export function createReviewItemActivities(
  deps: Pick<ActivityDeps, 'pool'>,
): Pick<LabloopActivities, 'upsertReviewItem'> {
  return {
    /** Update the review queue's row for this workflow, ignoring a snapshot older than the stored one. */
    async upsertReviewItem(input: ReviewItem): Promise<void> {
      await storeReviewItem(deps.pool, parseReviewItem(input));
    },
  };
}

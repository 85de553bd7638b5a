import type {
  CallTaskRequest,
  GenericSmsRequest,
  PageRequest,
  PatientLink,
  PortalNoteRequest,
  ReviewItem,
  SpruceResultRequest,
  StaffSmsPageRequest,
} from '../domain/activity-contract';
import type { PatientContact } from '../domain/lab-result';
import type { AuditEventInput } from '../domain/audit-event';

/**
 * What the decision core asks the shell to do. Each command maps to activities (see effects.ts);
 * the ones with an outcome come back as a CompletionEvent. Bookkeeping commands (audit, review
 * item, patient link) run one at a time in order; `cancelSend` is applied by the shell at once;
 * the others run concurrently.
 */
export type Command =
  | { type: 'audit'; event: AuditEventInput }
  | { type: 'reviewItem'; item: ReviewItem }
  | { type: 'linkPatient'; link: PatientLink }
  | { type: 'closePatient'; workflowId: string }
  | { type: 'findPriorRuns'; workflowId: string }
  /** Business-hours deadline for rung `level` of gate `epoch`. */
  | { type: 'computeDeadline'; epoch: number; level: number; startIso: string; businessMinutes: number }
  | {
      type: 'gatherContact';
      epoch: number;
      practiceId: string;
      practiceTimeZone: string;
      patient: PatientContact;
      needs: { consent: boolean; spruce: boolean };
    }
  | { type: 'computeSendWindow'; key: string; atIso: string; zones: string[] }
  | {
      type: 'sendSms';
      key: string;
      request: GenericSmsRequest;
      /** The patient's messaging window closes then: no attempt may start after it. */
      notAfter?: string;
      /** What is left of the outage window for this send. */
      outageBudgetMs: number;
    }
  | { type: 'sendSpruce'; key: string; request: SpruceResultRequest; outageBudgetMs: number }
  | { type: 'postPortal'; key: string; request: PortalNoteRequest; outageBudgetMs: number }
  /** Stop an in-flight patient send (its activity is cancelled; the outcome still comes back). */
  | { type: 'cancelSend'; key: string }
  /** `critical`: the long retry profile for pages about a critical result. */
  | { type: 'page'; request: PageRequest; critical: boolean }
  | { type: 'staffSmsPage'; request: StaffSmsPageRequest }
  /** Who is on call now (critical gate `epoch`): pages and the call task go to them. */
  | { type: 'resolveOnCall'; epoch: number; atIso: string }
  | { type: 'createCallTask'; request: CallTaskRequest };

export type CommandType = Command['type'];

/** Commands that must land in order (the audit trail and the review app's read model). */
export const BOOKKEEPING_COMMANDS: readonly CommandType[] = ['audit', 'reviewItem', 'linkPatient', 'closePatient'];

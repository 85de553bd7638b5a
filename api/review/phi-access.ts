import type { AuditSink, JsonValue } from '../../lib/audit/types';
import type { SignedInUser } from '../auth/session';

/**
 * Audit of a list view that shows patients (the review queue, the call list): HIPAA access logging
 * wants who saw which patients' results, when, as for opening one result (routes-result.ts). Every
 * result and patient shown is named by ID; names and phone numbers on the page are not repeated here.
 * A long list is split over several rows so each stays far below the audit log's details limit.
 */

/** Results per audit row: 40 × (workflow ID + patient ID) is a few KiB, under MAX_DETAILS_BYTES (16 KiB). */
export const PHI_LIST_ROW_ITEMS = 40;

export interface ShownResult {
  workflowId: string;
  patientId: string;
}

export async function auditListView(
  audit: Pick<AuditSink, 'append'>,
  input: {
    user: SignedInUser;
    at: Date;
    /** Which list: `review-queue`, `call-list`. */
    view: string;
    method: string;
    shown: readonly ShownResult[];
    details?: Record<string, JsonValue>;
  },
): Promise<void> {
  const { user, shown } = input;
  const parts = Math.max(1, Math.ceil(shown.length / PHI_LIST_ROW_ITEMS));
  for (let part = 0; part < parts; part++) {
    const slice = shown.slice(part * PHI_LIST_ROW_ITEMS, (part + 1) * PHI_LIST_ROW_ITEMS);
    await audit.append({
      occurredAt: input.at.toISOString(),
      practiceId: user.practice.practiceId,
      // One patient shown: the row names them in its own column, as a result view does.
      ...(shown.length === 1 && shown[0] !== undefined
        ? { workflowId: shown[0].workflowId, patientId: shown[0].patientId }
        : {}),
      actor: { type: user.role === 'provider' ? 'provider' : 'staff', id: user.staff.id },
      action: 'phi-access',
      outcome: 'viewed',
      details: {
        view: input.view,
        method: input.method,
        ...input.details,
        shownCount: shown.length,
        part: part + 1,
        parts,
        workflowIds: slice.map((s) => s.workflowId),
        patientIds: slice.map((s) => s.patientId),
      },
    });
  }
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SignedInUser } from '../../api/auth/session';
import { auditListView, PHI_LIST_ROW_ITEMS } from '../../api/review/phi-access';
import { canonicalJson } from '../../lib/audit/canonical-json';
import type { AuditEventInput } from '../../lib/audit/types';
import { MAX_DETAILS_BYTES, normalizeEvent } from '../../lib/audit/validate';
import { loadPracticeRegistry } from '../../lib/practices';

/** A list view is audited in rows the audit log accepts, naming every result and patient shown once. */

const practice = loadPracticeRegistry('config/practices.sandbox.json').policy('195900')!;
const user = { practice, staff: practice.staff[0], role: 'provider' } as unknown as SignedInUser;

async function rowsFor(count: number): Promise<AuditEventInput[]> {
  const rows: AuditEventInput[] = [];
  const shown = Array.from({ length: count }, (_, i) => ({
    // As long as real workflow IDs get (lab-result-<practice>-<digest>), and longer.
    workflowId: `lab-result-195900-${'f'.repeat(96)}-${i}`,
    patientId: `MRN-${'9'.repeat(40)}-${i}`,
  }));
  await auditListView(
    { append: (event) => (rows.push(event), Promise.resolve({ seq: rows.length, rowHash: '', duplicate: false })) },
    { user, at: new Date('2026-11-24T15:00:00Z'), view: 'review-queue', method: 'GET', shown },
  );
  return rows;
}

void describe('phi-access audit of list views', () => {
  void it('splits a full page (200 results) over rows each within the details limit, naming every ID once', async () => {
    const rows = await rowsFor(200);
    assert.equal(rows.length, Math.ceil(200 / PHI_LIST_ROW_ITEMS));
    const ids: string[] = [];
    for (const row of rows) {
      const stored = normalizeEvent(row); // throws if the audit log would refuse it
      assert.ok(Buffer.byteLength(canonicalJson(stored.details)) < MAX_DETAILS_BYTES);
      assert.equal(row.action, 'phi-access');
      assert.equal(row.actor.id, user.staff.id);
      ids.push(...(row.details?.workflowIds as string[]));
    }
    assert.equal(new Set(ids).size, 200);
  });

  void it('an empty list is still one row (the view happened), a single result fills the row columns', async () => {
    const empty = await rowsFor(0);
    assert.equal(empty.length, 1);
    assert.equal(empty[0]?.details?.shownCount, 0);
    const one = await rowsFor(1);
    assert.equal(one.length, 1);
    assert.ok(one[0]?.workflowId?.startsWith('lab-result-195900-'));
    assert.ok(one[0]?.patientId?.startsWith('MRN-'));
  });
});

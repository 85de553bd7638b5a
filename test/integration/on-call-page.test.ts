import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PageRequest } from '../../domain/activity-contract';
import { parsePracticeRegistry } from '../../lib/practices';
import { startSpruceFake, type SpruceFake } from '../../sandbox/fakes/spruce';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/tools';
import { spruceActivitiesForFake } from '../support/channel-activities';

/**
 * Paging "the on-call provider" follows the practice's on-call rota at the time of the page: the
 * Spruce fake receives the page for the member on shift, and the redirect is in the audit log.
 */
const TOKEN = 'spruce-on-call-token';

describe('pages to the on-call provider follow the practice rota', () => {
  let db: TestDatabase;
  let fake: SpruceFake;
  let now = new Date('2026-11-24T22:00:00Z'); // Tuesday 17:00 New York: the night shift

  before(async () => {
    db = await createTestDatabase('on_call_page');
    fake = await startSpruceFake({ token: TOKEN });
  });
  after(async () => {
    await fake?.close();
    await db?.close();
  });

  function activitiesWithRota() {
    const registry = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'config/practices.sandbox.json'), 'utf8')) as {
      practices: { policy: Record<string, unknown> }[];
    };
    registry.practices[0].policy.onCallSchedule = [
      { weekdays: [1, 2, 3, 4, 5], start: '08:00', end: '17:00', staffId: 'prov-1' },
      { weekdays: [1, 2, 3, 4, 5, 6, 7], start: '17:00', end: '08:00', staffId: 'prov-2' },
    ];
    return spruceActivitiesForFake(db.pool, {
      spruceApiBaseUrl: fake.apiBaseUrl,
      token: TOKEN,
      timeoutMs: 2000,
      practices: parsePracticeRegistry(registry),
      now: () => now,
    });
  }

  const request = (step: string, staffId: string): PageRequest => ({
    workflowId: `lab-result-195900-${'e'.repeat(32)}`,
    resultVersion: 1,
    step,
    practiceId: '195900',
    staffId,
    reason: 'critical-result',
    urgency: 'high',
  });

  it('sends the on-call page to the member on shift and audits the redirect', async () => {
    const activities = activitiesWithRota();
    const night = await activities.pageStaff(request('page-on-call-1', 'prov-oncall'));
    assert.equal(night.pagedStaffId, 'prov-2');
    now = new Date('2026-11-25T15:00:00Z'); // Wednesday 10:00: the day shift
    const day = await activities.pageStaff(request('page-on-call-2', 'prov-oncall'));
    assert.equal(day.pagedStaffId, 'prov-1');
    await fake.idle();
    const paged = fake.items().flatMap((i) => i.pages);
    assert.deepEqual(paged, ['entity_member_prov2', 'entity_member_prov1']);
    const { rows } = await db.pool.query<{ outcome: string; details: { requested: string; paged: string } }>(
      `SELECT outcome, details FROM audit_log WHERE action = 'routing-decision' ORDER BY seq`,
    );
    assert.deepEqual(
      rows.map((r) => [r.outcome, r.details.requested, r.details.paged]),
      [
        ['on-call-rota', 'prov-oncall', 'prov-2'],
        ['on-call-rota', 'prov-oncall', 'prov-1'],
      ],
    );
  });

  it('pages a named staff member directly, whatever the rota says', async () => {
    const activities = activitiesWithRota();
    const outcome = await activities.pageStaff(request('page-admin', 'admin-1'));
    assert.equal(outcome.pagedStaffId, 'admin-1');
  });
});

import assert from 'node:assert/strict';
import type { LabResult } from '../../../domain/lab-result';
import {
  AcuitySearchAttribute,
  PracticeSearchAttribute,
  SlaDeadlineSearchAttribute,
  StateSearchAttribute,
} from '../../../workflows/definitions';
import type { FakeWorld } from './fake-world';
import { phiStrings } from './fixtures';
import type { LabHandle } from './harness';

/** Fails if any PHI string of `result` (name, phone, DOB, test names, values) appears in `text`. */
export function assertNoPhi(text: string, result: LabResult, where: string): void {
  for (const phi of phiStrings(result)) {
    assert.ok(!text.toLowerCase().includes(phi.toLowerCase()), `${where} contains PHI (${phi.length} characters)`);
  }
}

/** Audit rows, the status query and search attributes carry no PHI. */
export async function assertNoPhiAnywhere(world: FakeWorld, handle: LabHandle, result: LabResult): Promise<void> {
  assertNoPhi(JSON.stringify(world.audits), result, 'audit events');
  assertNoPhi(JSON.stringify(await handle.query('getStatus')), result, 'getStatus query');
  const description = await handle.describe();
  assertNoPhi(JSON.stringify(description.typedSearchAttributes.getAll()), result, 'search attributes');
  assertNoPhi(handle.workflowId, result, 'workflow ID');
  for (const sms of world.sms()) {
    for (const word of result.observations.flatMap((o) => [o.name, o.value, o.units ?? ''])) {
      if (word.length >= 3) assert.ok(!sms.input.body.includes(word), 'an SMS body carries result content');
    }
  }
}

export interface SearchAttributeSnapshot {
  practice?: string;
  acuity?: string;
  state?: string;
  slaDeadline?: string;
}

export async function searchAttributes(handle: LabHandle): Promise<SearchAttributeSnapshot> {
  const typed = (await handle.describe()).typedSearchAttributes;
  const deadline = typed.get(SlaDeadlineSearchAttribute);
  return {
    practice: typed.get(PracticeSearchAttribute),
    acuity: typed.get(AcuitySearchAttribute),
    state: typed.get(StateSearchAttribute),
    ...(deadline !== undefined ? { slaDeadline: deadline.toISOString() } : {}),
  };
}

/** Every patient-facing send happened after the first sign-off for its version. */
export function assertNothingBeforeSignOff(world: FakeWorld, signedAtMs: number): void {
  for (const send of [...world.sms(), ...world.spruce(), ...world.portal()]) {
    assert.ok(send.at >= signedAtMs, `${send.name} at ${new Date(send.at).toISOString()} came before the sign-off`);
  }
}

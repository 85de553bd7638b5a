import type { Observation, ResultStatus } from '../../domain/lab-result';
import { normaliseResultStatus } from '../../domain/classification';

/** Table 0085 codes that mean "not yet verified": the result is still preliminary. */
const PENDING_OBSERVATION_STATUSES = new Set(['P', 'I', 'R', 'S', 'A', 'O']);
/** Table 0085 codes that mean "this observation is final" (U: changed to final without resending). */
const FINAL_OBSERVATION_STATUSES = new Set(['F', 'U']);
/** Table 0085 codes that withdraw an observation (X cannot be obtained, D deleted, W wrong). */
const WITHDRAWN_OBSERVATION_STATUSES = new Set(['X', 'D', 'W', 'N']);

/**
 * The status of one OBR group: OBR-25 when the sender gave it, otherwise derived from the OBX-11s.
 * The derivation errs towards preliminary (never announced): any correction makes the group
 * corrected; any pending, missing or unknown OBX-11 keeps it preliminary; otherwise it is final if
 * at least one observation is final (the rest withdrawn) and cancelled if all are withdrawn.
 */
export function groupStatus(obr25: string, observations: readonly Pick<Observation, 'status'>[]): ResultStatus {
  if (obr25.trim() !== '') return normaliseResultStatus(obr25);
  if (observations.length === 0) return 'preliminary';
  const codes = observations.map((o) => (o.status ?? '').trim().toUpperCase());
  if (codes.includes('C')) return 'corrected';
  const settled = codes.every((c) => FINAL_OBSERVATION_STATUSES.has(c) || WITHDRAWN_OBSERVATION_STATUSES.has(c));
  if (!settled || codes.some((c) => PENDING_OBSERVATION_STATUSES.has(c))) return 'preliminary';
  return codes.some((c) => FINAL_OBSERVATION_STATUSES.has(c)) ? 'final' : 'cancelled';
}

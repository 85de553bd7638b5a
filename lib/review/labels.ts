import type { Acuity } from '../../domain/lab-result';
import type { WorkflowState } from '../../domain/vocabulary';

/** Words for codes, so every badge and status carries text (colour is only ever a second cue). */

export const ACUITY_LABELS: Readonly<Record<Acuity, string>> = {
  critical: 'Critical',
  abnormal: 'Abnormal',
  normal: 'Normal',
};

export const STATE_LABELS: Readonly<Record<WorkflowState, string>> = {
  'awaiting-final': 'Waiting for the final result',
  'awaiting-sign-off': 'Waiting for sign-off',
  escalated: 'Escalated',
  'critical-call': 'Critical: patient call in progress',
  notifying: 'Notifying the patient',
  notified: 'Patient notified',
  fallback: 'Fallback channel in use',
  closed: 'Closed',
};

/** HL7 table 0078 abnormal flags (also what the FHIR and athena mappers produce). */
const FLAG_LABELS: Readonly<Record<string, string>> = {
  N: 'Normal',
  L: 'Low',
  H: 'High',
  LL: 'Critically low',
  HH: 'Critically high',
  '<': 'Below absolute low',
  '>': 'Above absolute high',
  A: 'Abnormal',
  AA: 'Critically abnormal',
  U: 'Significant change up',
  D: 'Significant change down',
  B: 'Better',
  W: 'Worse',
  S: 'Susceptible',
  R: 'Resistant',
  I: 'Intermediate',
};

/** "HH" → "Critically high"; an unknown flag is shown as sent. */
export function flagLabel(flag: string | undefined): string | undefined {
  if (flag === undefined || flag.trim() === '') return undefined;
  return FLAG_LABELS[flag.trim().toUpperCase()] ?? flag;
}

/** A flag other than normal: the row is marked (with text) in the results table. */
export function isFlagged(flag: string | undefined): boolean {
  return flag !== undefined && flag.trim() !== '' && flag.trim().toUpperCase() !== 'N';
}

export function escalationLabel(level: number): string | undefined {
  if (level <= 0) return undefined;
  return level === 1 ? 'Escalated to on-call' : `Escalated (level ${level})`;
}

import type { PracticePolicy } from './practice';

/**
 * How often escalation repeats once it has run out of people to climb to. Issue 13 §4: an unsigned
 * result must never wait silently (the Cures Act forbids stalling a result), so after the ladder's
 * last rung the same person is paged again at this interval until a provider signs; a critical call
 * task still open after its escalation pages the administrator again the same way.
 */

/**
 * Business minutes between repeated pages after the ladder's last rung. 60: the same pace as the
 * default escalationStepMinutes, so the administrator hears once an hour of opening time (8 pages in
 * an 8-hour clinic day), never overnight or on a closed day.
 */
export const DEFAULT_ESCALATION_REPEAT_MINUTES = 60;

/**
 * Wall-clock minutes between repeated administrator pages while an escalated critical call task is
 * still open. 30: the default criticalCallEscalationMinutes, so the gap between the first escalation
 * and each repeat is what the practice already accepts for the first one. Criticals do not wait for
 * opening hours.
 */
export const DEFAULT_CRITICAL_CALL_REPEAT_MINUTES = 30;

export function escalationRepeatMinutes(policy: PracticePolicy): number {
  return policy.escalationRepeatMinutes ?? DEFAULT_ESCALATION_REPEAT_MINUTES;
}

export function criticalCallRepeatMinutes(policy: PracticePolicy): number {
  return policy.criticalCallRepeatMinutes ?? DEFAULT_CRITICAL_CALL_REPEAT_MINUTES;
}

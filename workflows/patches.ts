/**
 * Workflow changes that ship while runs are open (a run stays open 30 days after it settles). Each
 * change gets one patch ID here; the shell (runner.ts) evaluates `patched(id)` before every decision
 * and hands the answers to the decision core as flags, so decide() stays a pure function of
 * (model, event, flags). A run recorded before the change replays with its flag off and issues the
 * same commands it did; a run that meets the new code live gets the marker in its history and the
 * new behaviour from then on. The procedure (and when an ID may be retired) is in docs/workflow.md.
 */
export const PATCH_IDS = {
  /**
   * Issue 13 §4: after the ladder's last rung, page again every escalationRepeatMinutes while
   * unsigned; an escalated critical call task still open pages the administrator again every
   * criticalCallRepeatMinutes.
   */
  repeatEscalation: 'labloop-2026-12-repeat-escalation',
} as const;

export type PatchName = keyof typeof PATCH_IDS;

/**
 * Changes to the shell (runner.ts) rather than to decisions: evaluated by the runner itself, and
 * only at the moment the changed behaviour would differ, so only runs that reach that moment carry
 * the marker. Not flags of decide(); histories recorded before one replay with it off.
 */
export const SHELL_PATCH_IDS = {
  /**
   * A timer whose instant has passed is left to fire instead of being cancelled: the cancel raced
   * the server's firing. The real server accepts it (and drops the fired event); the time-skipping
   * test server refuses the workflow task ("invalid history builder state for action") and strands
   * the run. Two deadlines milliseconds apart (a critical call's repeat and the sign-off rung on the
   * same hour) made that a routine path once escalations repeat.
   */
  keepDueTimer: 'labloop-2026-12-keep-due-timer',
} as const;

/** Which patched behaviours this decision uses. */
export type PatchFlags = Readonly<Record<PatchName, boolean>>;

/** The newest behaviour: what a run started on the current code gets, and what tests of the core use by default. */
export const CURRENT_BEHAVIOUR: PatchFlags = { repeatEscalation: true };

/** Every patch off: the behaviour of the code before the first patch (histories recorded by it replay so). */
export const BEFORE_PATCHES: PatchFlags = { repeatEscalation: false };

/** Evaluate every patch with `patched` (the shell passes the SDK's). */
export function evaluatePatches(patched: (id: string) => boolean): PatchFlags {
  return { repeatEscalation: patched(PATCH_IDS.repeatEscalation) };
}

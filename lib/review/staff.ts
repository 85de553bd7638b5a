import type { PracticePolicy, StaffMember } from '../../domain/practice';
import type { PracticeRegistry } from '../practices';

/** Who signed in through single sign-on, as the identity provider vouches. */
export interface SsoIdentity {
  subject: string;
  email?: string;
  /** Only a verified email may identify someone: an unverified one can be typed in by anyone. */
  emailVerified: boolean;
}

export interface StaffMatch {
  practice: PracticePolicy;
  staff: StaffMember;
}

export type StaffLookup = { kind: 'found'; match: StaffMatch } | { kind: 'not-found' } | { kind: 'ambiguous' };

/**
 * Maps an SSO identity to one staff member of one practice: a configured `oidcSubject` first (stable
 * even when an email changes), else a verified email (case-insensitive). Two matches are refused
 * rather than guessed, since the two could hold different roles or practices.
 */
export function findStaffForIdentity(practices: PracticeRegistry, identity: SsoIdentity): StaffLookup {
  const all = practices
    .all()
    .flatMap((entry) => entry.policy.staff.map((staff) => ({ practice: entry.policy, staff })));
  const bySubject = all.filter((m) => m.staff.oidcSubject !== undefined && m.staff.oidcSubject === identity.subject);
  const email = identity.email?.trim().toLowerCase();
  const byEmail =
    bySubject.length === 0 && identity.emailVerified && email !== undefined && email !== ''
      ? all.filter((m) => m.staff.email?.toLowerCase() === email)
      : [];
  const matches = bySubject.length > 0 ? bySubject : byEmail;
  const [match] = matches;
  if (match === undefined) return { kind: 'not-found' };
  return matches.length === 1 ? { kind: 'found', match } : { kind: 'ambiguous' };
}

/** A staff member of a practice by ID (sessions store IDs; the registry is the source of truth for roles). */
export function findStaff(practices: PracticeRegistry, practiceId: string, staffId: string): StaffMatch | undefined {
  const practice = practices.policy(practiceId);
  const staff = practice?.staff.find((s) => s.id === staffId);
  return practice === undefined || staff === undefined ? undefined : { practice, staff };
}

/** Every identifier a result may name this provider by (staff ID, NPI). */
export function providerIdentifiers(staff: StaffMember): string[] {
  return staff.npi === undefined ? [staff.id] : [staff.id, staff.npi];
}

/** A display name for a staff or provider reference (ID or NPI), falling back to the reference itself. */
export function staffDisplayName(practice: PracticePolicy, ref: string | undefined): string | undefined {
  if (ref === undefined) return undefined;
  return practice.staff.find((s) => s.id === ref || s.npi === ref)?.name ?? ref;
}

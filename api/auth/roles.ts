import type { StaffMember } from '../../domain/practice';

/**
 * What each review-app role may do. One table, checked on the server for every request (the pages
 * hide what a role cannot do, but hiding is not the control):
 * - provider: read results, sign them (with or without a note to the patient), annotate;
 * - staff: read results, see and complete outbound-call tasks;
 * - administrator: read results, see call tasks, export the audit log.
 */
export type StaffRole = StaffMember['role'];

export const PERMISSIONS = [
  'view-results',
  'sign',
  'annotate',
  'view-call-tasks',
  'complete-call-task',
  'export-audit',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const ROLE_PERMISSIONS: Readonly<Record<StaffRole, readonly Permission[]>> = {
  provider: ['view-results', 'sign', 'annotate'],
  staff: ['view-results', 'view-call-tasks', 'complete-call-task'],
  administrator: ['view-results', 'view-call-tasks', 'export-audit'],
};

/** Human wording, for pages and refusals. */
export const ROLE_LABELS: Readonly<Record<StaffRole, string>> = {
  provider: 'Provider',
  staff: 'Staff',
  administrator: 'Administrator',
};

const PERMISSION_WORDING: Readonly<Record<Permission, string>> = {
  'view-results': 'view results',
  sign: 'sign results',
  annotate: 'annotate results',
  'view-call-tasks': 'see call tasks',
  'complete-call-task': 'complete call tasks',
  'export-audit': 'export the audit log',
};

export function can(role: StaffRole, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].includes(permission);
}

/** The roles holding a permission, e.g. for "only a provider may sign results". */
export function rolesWith(permission: Permission): StaffRole[] {
  return (Object.keys(ROLE_PERMISSIONS) as StaffRole[]).filter((role) => can(role, permission));
}

/** A refusal that says what was refused and who may do it. */
export function refusalMessage(role: StaffRole, permission: Permission): string {
  const allowed = rolesWith(permission).map((r) => ROLE_LABELS[r].toLowerCase());
  return `Your role (${ROLE_LABELS[role].toLowerCase()}) cannot ${PERMISSION_WORDING[permission]}; only ${allowed.join(' or ')} can.`;
}

import type { ActivityDeps, AuditEvent } from './deps';

export function createAuditActivities({ audit }: Pick<ActivityDeps, 'audit'>) {
  return {
    /** Append one event to the tamper-evident audit log; idempotent by `idempotencyKey` across retries. */
    async appendAudit(event: AuditEvent): Promise<void> {
      await audit.append(event);
    },
  };
}

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { loweredCriticalFlags } from '../domain/classification';
import { resolveValueRules } from '../domain/critical-values';
import { ACUITIES } from '../domain/lab-result';
import type { PracticePolicy } from '../domain/practice';
import { PROJECT_ROOT } from './tools';

/**
 * The practice registry: each practice's policy (snapshotted into workflows) and how inbound
 * messages are routed to it. Loaded once at start; an unknown practice is a refusal, not a guess.
 */

const localTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:mm');
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be YYYY-MM-DD');

const loinc = z.string().regex(/^\d{1,7}-\d$/, 'must be a LOINC code (digits, hyphen, check digit)');

/** A practice's critical limit (domain/critical-values.ts CriticalLimit). */
const CriticalLimitSchema = z
  .object({
    loinc: z.array(loinc).min(1),
    analyte: z.string().min(1).max(80),
    units: z.string().max(40),
    low: z.number().optional(),
    high: z.number().optional(),
    inclusive: z.boolean().optional(),
    monovalentIon: z.boolean().optional(),
    source: z.string().max(200).optional(),
  })
  .refine((l) => l.low !== undefined || l.high !== undefined, 'a critical limit needs low, high or both')
  .refine((l) => l.low === undefined || l.high === undefined || l.low < l.high, 'low must be below high');

/**
 * The practice's critical-value table: the shipped defaults (docs/critical-values.md, which the
 * practice must review), its own limits (replacing the defaults for the codes they name), and
 * default codes it withdrew. Resolved into `valueRules` at load, which workflows snapshot.
 */
const CriticalValuesSchema = z
  .object({
    defaults: z.boolean().default(true),
    limits: z.array(CriticalLimitSchema).default([]),
    withdraw: z.array(loinc).default([]),
    referenceRanges: z.boolean().default(true),
  })
  .prefault({});

const PolicyFields = z.object({
  practiceId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  practiceName: z.string().min(1).max(40),
  calendar: z.object({
    timeZone: z.string().min(1),
    hours: z.array(z.object({ weekday: z.number().int().min(1).max(7), open: localTime, close: localTime })).min(1),
    closedDates: z.array(isoDate).default([]),
  }),
  signOffSlaMinutes: z.object({ normal: z.number().int().positive(), abnormal: z.number().int().positive() }),
  escalationStepMinutes: z.number().int().positive().default(60),
  escalationRepeatMinutes: z.number().int().positive().optional(),
  onCallProviderId: z.string().min(1),
  onCallSchedule: z
    .array(
      z.object({
        weekdays: z.array(z.number().int().min(1).max(7)).min(1),
        start: localTime,
        end: localTime,
        staffId: z.string().min(1),
      }),
    )
    .optional(),
  administratorId: z.string().min(1),
  staff: z
    .array(
      z.object({
        id: z.string().min(1),
        name: z.string().min(1),
        role: z.enum(['provider', 'staff', 'administrator']),
        spruceMemberId: z.string().optional(),
        athenaUsername: z.string().optional(),
        athenaProviderId: z
          .string()
          .regex(/^\d{1,12}$/, 'must be a numeric athena provider ID')
          .optional(),
        npi: z
          .string()
          .regex(/^\d{10}$/, 'must be a 10-digit NPI')
          .optional(),
        email: z.email().optional(),
        oidcSubject: z.string().min(1).optional(),
        pagerPhone: z
          .string()
          .regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 phone number')
          .optional(),
      }),
    )
    .min(1),
  patientQuietHours: z.object({ start: localTime, end: localTime }).default({ start: '08:00', end: '21:00' }),
  criticalCallEscalationMinutes: z.number().int().positive().default(30),
  criticalCallRepeatMinutes: z.number().int().positive().optional(),
  channelOutageFallbackMinutes: z.number().int().positive().default(30),
  abnormalUnreadCallMinutes: z
    .number()
    .int()
    .positive()
    .default(24 * 60),
  smsConsentInvitation: z.boolean().default(false),
  schedulingUrl: z.url(),
  smsHelpText: z.string().min(1).max(160),
  flagMappings: z.record(z.string(), z.enum(ACUITIES)).default({}),
  criticalValues: CriticalValuesSchema,
  athenaDepartmentId: z.string().optional(),
  /**
   * The athena username (case-sensitive) whose queue outbound-call patient cases are assigned to
   * when the workflow names nobody: the practice's call-back or nurse queue. Absent: the case stays
   * in the department's own patient-case queue.
   */
  callTaskQueueUsername: z.string().min(1).optional(),
  /**
   * Which Twilio sender (TWILIO_SENDERS id, lib/sms/senders.ts) the practice's texts go from, on
   * that sender's own rate-limited SMS task queue. Absent: the default sender.
   */
  smsSenderId: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be a TWILIO_SENDERS id')
    .optional(),
});

const PolicySchema = PolicyFields.superRefine((policy, ctx) => {
  // A mapping that lowers a panic flag would let a critical value be texted to the patient.
  for (const { key, mappedTo } of loweredCriticalFlags(policy.flagMappings)) {
    ctx.addIssue({
      code: 'custom',
      path: ['flagMappings', key],
      message: `practice ${policy.practiceId} maps the critical flag ${JSON.stringify(key)} to ${mappedTo}; a flag mapping may raise a flag's acuity but never lower a critical one (LL, HH, AA or a critical text)`,
    });
  }
}).transform(({ criticalValues, ...policy }) => ({ ...policy, valueRules: resolveValueRules(criticalValues) }));

const PracticeEntrySchema = z.object({
  policy: PolicySchema,
  routing: z.object({
    /** HL7 MSH-4 (sending facility, first component) values that belong to this practice. */
    hl7SendingFacilities: z.array(z.string().min(1)).default([]),
    /** athenahealth practice ID (the `{practiceid}` path segment). */
    athenaPracticeId: z.string().optional(),
    /**
     * MSH-4 values of feeds that send results only after a provider reviewed them (athena's outbound
     * ORU on sign-off, for example). HL7 v2 has no standard "reviewed by" field, so this is
     * configuration; these feeds also route here. Their results arrive signed by the ordering
     * provider only when the authenticated sender is configured `arrivesSigned` (lib/senders.ts) and
     * that provider is one of the practice's: MSH-4 alone never signs anything.
     */
    hl7ReviewedFacilities: z.array(z.string().min(1)).default([]),
    /**
     * MSH-4 value → the namespace its OBR-3 filler numbers belong to, for feeds that carry another
     * system's result IDs. `"athena"` means athena's own lab-result IDs (athena's outbound ORU), so
     * those results join the workflow of the same result seen through athena's webhooks and feed.
     * Unlisted facilities: the filler number's own assigning authority (OBR-3.2/3.3), else MSH-4.
     */
    hl7ResultIdIssuers: z.record(z.string().min(1), z.string().min(1).max(200)).default({}),
    /**
     * Honour HL7 enhanced acknowledgement mode (MSH-15/16: commit ACK CA/CE/CR, or no ACK for NE)
     * for this practice's HL7 facilities. Off: original mode (AA/AE/AR) whatever MSH-15/16 say,
     * which is what feeds that send `AL|NE` out of habit expect.
     */
    hl7EnhancedAcknowledgements: z.boolean().default(false),
  }),
});

const RegistrySchema = z.object({ practices: z.array(PracticeEntrySchema).min(1) });

export type PracticeEntry = z.infer<typeof PracticeEntrySchema>;

export class PracticeRegistry {
  private readonly byId = new Map<string, PracticeEntry>();
  private readonly byFacility = new Map<string, PracticeEntry>();
  private readonly byAthenaId = new Map<string, PracticeEntry>();

  constructor(entries: PracticeEntry[]) {
    for (const entry of entries) {
      const id = entry.policy.practiceId;
      if (this.byId.has(id)) throw new Error(`practice ${id} is listed twice`);
      this.byId.set(id, entry);
      for (const f of [...entry.routing.hl7SendingFacilities, ...entry.routing.hl7ReviewedFacilities]) {
        this.byFacility.set(f.toUpperCase(), entry);
      }
      if (entry.routing.athenaPracticeId !== undefined) this.byAthenaId.set(entry.routing.athenaPracticeId, entry);
      const facilities = new Set(
        [...entry.routing.hl7SendingFacilities, ...entry.routing.hl7ReviewedFacilities].map((f) => f.toUpperCase()),
      );
      for (const facility of Object.keys(entry.routing.hl7ResultIdIssuers)) {
        if (!facilities.has(facility.toUpperCase())) {
          throw new Error(
            `practice ${id}: routing.hl7ResultIdIssuers names ${facility}, which is not one of its HL7 facilities`,
          );
        }
      }
      const staffIds = new Set(entry.policy.staff.map((s) => s.id));
      for (const ref of [entry.policy.onCallProviderId, entry.policy.administratorId]) {
        if (!staffIds.has(ref)) throw new Error(`practice ${id}: ${ref} is not in its staff list`);
      }
      for (const [i, shift] of (entry.policy.onCallSchedule ?? []).entries()) {
        const member = entry.policy.staff.find((s) => s.id === shift.staffId);
        if (member?.role !== 'provider') {
          throw new Error(
            `practice ${id}: onCallSchedule[${i}].staffId ${shift.staffId} is not a provider of the practice`,
          );
        }
      }
    }
  }

  policy(practiceId: string): PracticePolicy | undefined {
    return this.byId.get(practiceId)?.policy;
  }

  all(): PracticeEntry[] {
    return [...this.byId.values()];
  }

  byHl7Facility(facility: string): PracticePolicy | undefined {
    return this.byFacility.get(facility.toUpperCase())?.policy;
  }

  entry(practiceId: string): PracticeEntry | undefined {
    return this.byId.get(practiceId);
  }

  /** The configured issuer of the result IDs that `facility` (MSH-4) sends to the practice, if any. */
  hl7ResultIdIssuer(practiceId: string, facility: string): string | undefined {
    const issuers = this.byId.get(practiceId)?.routing.hl7ResultIdIssuers ?? {};
    const wanted = facility.toUpperCase();
    return Object.entries(issuers).find(([f]) => f.toUpperCase() === wanted)?.[1];
  }

  byAthenaPractice(athenaPracticeId: string): PracticeEntry | undefined {
    return this.byAthenaId.get(athenaPracticeId);
  }
}

export function parsePracticeRegistry(json: unknown, source = 'practice registry'): PracticeRegistry {
  const parsed = RegistrySchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`${source} is invalid: ${problems}`);
  }
  return new PracticeRegistry(parsed.data.practices);
}

export function loadPracticeRegistry(file: string): PracticeRegistry {
  const full = path.isAbsolute(file) ? file : path.join(PROJECT_ROOT, file);
  return parsePracticeRegistry(JSON.parse(readFileSync(full, 'utf8')) as unknown, full);
}

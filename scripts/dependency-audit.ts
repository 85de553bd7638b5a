/**
 * `npm run audit:deps` (and test/static/dependency-audit.test.ts, so `npm test`): `npm audit
 * --omit=dev` against the registry's advisory database, failing on any advisory that
 * security/npm-audit-allowlist.json does not name and explain. An audit that cannot run (registry
 * unreachable, advisory endpoint refusing, unreadable output) is a failure that says so, never a pass:
 * "no advisories" must mean the registry said so.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { PROJECT_ROOT } from '../lib/tools';

export const ALLOWLIST_FILE = path.join(PROJECT_ROOT, 'security/npm-audit-allowlist.json');

const AllowListSchema = z.object({
  comment: z.string().optional(),
  advisories: z.array(
    z.strictObject({
      /** GitHub advisory ID, e.g. GHSA-abcd-efgh-ijkl. */
      id: z.string().regex(/^GHSA(-[23456789cfghjmpqrvwx]{4}){3}$/, 'must be a GHSA ID'),
      package: z.string().min(1),
      /** Why it does not apply, or what mitigates it: the review that accepted it. */
      reason: z.string().min(40, 'must explain (at least a sentence) why the advisory is accepted'),
      /** YYYY-MM-DD: after this day the entry no longer counts and the audit fails until reviewed again. */
      expires: z.iso.date(),
    }),
  ),
});
export type AllowList = z.infer<typeof AllowListSchema>;

/** The parts of `npm audit --json` (auditReportVersion 2) the check reads. */
const AdvisoryVia = z.looseObject({
  source: z.number().optional(),
  name: z.string(),
  title: z.string().optional(),
  url: z.string().optional(),
  severity: z.string().optional(),
  range: z.string().optional(),
});
const AuditReportSchema = z.looseObject({
  auditReportVersion: z.literal(2),
  vulnerabilities: z.record(
    z.string(),
    z.looseObject({
      name: z.string(),
      severity: z.string(),
      via: z.array(z.union([z.string(), AdvisoryVia])),
    }),
  ),
  metadata: z.looseObject({
    vulnerabilities: z.looseObject({ total: z.number() }),
    dependencies: z.looseObject({ total: z.number().optional(), prod: z.number().optional() }).optional(),
  }),
});

export interface Advisory {
  id: string;
  package: string;
  severity: string;
  title: string;
  url?: string;
}

export type AuditOutcome =
  | { kind: 'clean'; advisories: Advisory[]; accepted: Advisory[]; dependencies?: number }
  | { kind: 'unexplained'; advisories: Advisory[]; unexplained: Advisory[]; expired: string[] }
  | { kind: 'unavailable'; reason: string }
  /**
   * The registry answered, and its answer was no: it does not serve the advisory endpoint (405 on
   * this workplace's registry mirror). Distinct from `unavailable` (no answer, unreadable answer),
   * because it is final for that registry: the audit cannot run there, and saying so is the truth.
   */
  | { kind: 'refused'; reason: string; statusCode: number };

/** Statuses by which a registry says it does not offer the advisory endpoint at all. */
const ENDPOINT_REFUSED_STATUSES = new Set([404, 405, 501]);

export function loadAllowList(file = ALLOWLIST_FILE): AllowList {
  const parsed = AllowListSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`${path.relative(PROJECT_ROOT, file)} is invalid: ${problems}`);
  }
  return parsed.data;
}

function advisoryId(via: z.infer<typeof AdvisoryVia>): string {
  return /GHSA(-[a-z0-9]{4}){3}/i.exec(via.url ?? '')?.[0] ?? `npm-${via.source ?? via.name}`;
}

/**
 * Judges `npm audit --json`'s output: every advisory must be allowed by an unexpired entry for the
 * same package. Anything that is not an audit report (npm's error object) is `unavailable`.
 */
export function evaluateAudit(output: string, allowList: AllowList, today: string): AuditOutcome {
  let json: unknown;
  try {
    json = JSON.parse(output);
  } catch {
    return {
      kind: 'unavailable',
      reason: `npm audit printed no JSON report (${output.trim().slice(0, 200) || 'nothing'})`,
    };
  }
  const report = AuditReportSchema.safeParse(json);
  if (!report.success) {
    const error = z.looseObject({ message: z.string().optional(), statusCode: z.number().optional() }).safeParse(json);
    const said = error.success ? (error.data.message ?? `status ${error.data.statusCode ?? '?'}`) : 'an unknown shape';
    const status = error.success ? error.data.statusCode : undefined;
    if (status !== undefined && ENDPOINT_REFUSED_STATUSES.has(status)) {
      return { kind: 'refused', reason: `the registry refuses its advisory endpoint: ${said}`, statusCode: status };
    }
    return { kind: 'unavailable', reason: `the registry's advisory database did not answer: ${said}` };
  }
  const advisories = new Map<string, Advisory>();
  for (const vulnerability of Object.values(report.data.vulnerabilities)) {
    for (const via of vulnerability.via) {
      if (typeof via === 'string') continue; // a dependency that is vulnerable through another package
      const id = advisoryId(via);
      advisories.set(`${id}:${via.name}`, {
        id,
        package: via.name,
        severity: via.severity ?? vulnerability.severity,
        title: via.title ?? '(no title)',
        ...(via.url === undefined ? {} : { url: via.url }),
      });
    }
  }
  const all = [...advisories.values()];
  const expired = allowList.advisories
    .filter((a) => a.expires < today)
    .map((a) => `${a.id} (${a.package}, expired ${a.expires})`);
  const allowed = (a: Advisory) =>
    allowList.advisories.some((e) => e.id === a.id && e.package === a.package && e.expires >= today);
  const unexplained = all.filter((a) => !allowed(a));
  if (unexplained.length > 0) return { kind: 'unexplained', advisories: all, unexplained, expired };
  if (report.data.metadata.vulnerabilities.total > 0 && all.length === 0) {
    return { kind: 'unavailable', reason: 'npm audit counted vulnerabilities but named no advisory' };
  }
  return {
    kind: 'clean',
    advisories: all,
    accepted: all.filter(allowed),
    ...(report.data.metadata.dependencies?.prod === undefined
      ? {}
      : { dependencies: report.data.metadata.dependencies.prod }),
  };
}

/** Runs `npm audit --omit=dev --json` in the project (npm exits 1 when it finds something: the JSON decides). */
export function runNpmAudit(): string {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const run = spawnSync(npm, ['audit', '--omit=dev', '--json'], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 32 * 1024 * 1024,
  });
  if (run.error !== undefined) return `npm audit could not run: ${run.error.message}`;
  return run.stdout;
}

export function describeOutcome(outcome: AuditOutcome): string {
  switch (outcome.kind) {
    case 'clean':
      return `npm audit --omit=dev: no unexplained advisory${outcome.accepted.length > 0 ? `; accepted: ${outcome.accepted.map((a) => a.id).join(', ')}` : ''}`;
    case 'unexplained':
      return [
        `npm audit --omit=dev found ${outcome.unexplained.length} advisory(ies) that security/npm-audit-allowlist.json does not explain:`,
        ...outcome.unexplained.map(
          (a) => `  - ${a.id} ${a.package} (${a.severity}): ${a.title}${a.url === undefined ? '' : ` ${a.url}`}`,
        ),
        ...(outcome.expired.length > 0 ? [`expired allow-list entries: ${outcome.expired.join(', ')}`] : []),
        'Upgrade the package, or add an entry naming the advisory and why it does not apply (with an expiry).',
      ].join('\n');
    case 'unavailable':
      return `DEPENDENCY AUDIT DID NOT RUN, so it fails: ${outcome.reason}. It needs the npm registry's advisory endpoint (POST /-/npm/v1/security/advisories/bulk).`;
    case 'refused':
      return `DEPENDENCY AUDIT NOT POSSIBLE against this registry: ${outcome.reason}. Run \`npm run audit:deps\` where the registry serves advisories (registry.npmjs.org does; the mirror on this workplace does not).`;
  }
}

if (require.main === module) {
  const today = new Date().toISOString().slice(0, 10);
  const outcome = evaluateAudit(runNpmAudit(), loadAllowList(), today);
  const message = describeOutcome(outcome);
  if (outcome.kind === 'clean') console.log(message);
  else console.error(message);
  process.exit(outcome.kind === 'clean' ? 0 : 1);
}

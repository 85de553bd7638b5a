/**
 * `npm run audit:export -- --format csv|ndjson [--from DATE] [--to DATE] [--practice ID]
 *   [--patient ID] [--out FILE] [--actor STAFF_ID]`
 *
 * Exports audit rows whose occurred_at is in [from, to) for an OCR audit, to stdout or --out FILE
 * (created with mode 0600: it holds patient ids). DATE is YYYY-MM-DD (midnight UTC) or an ISO-8601
 * date-time with an offset. --patient needs --practice (patient ids are per practice). The export is
 * itself audited, with the operator from --actor or else the OS user. Exit 0 done, 2 on any error.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { userInfo } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { createPool } from '../lib/db/pool';
import { exportAudit, type AuditExportOptions } from '../lib/audit/export';

const EXIT_ERROR = 2;

const dateArg = (name: string) =>
  z
    .string()
    .refine((s) => /^\d{4}-\d{2}-\d{2}$/.test(s) || z.iso.datetime({ offset: true }).safeParse(s).success, {
      error: `--${name} must be YYYY-MM-DD or an ISO-8601 date-time with an offset`,
    })
    .transform((s) => new Date(/^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00Z` : s))
    .refine((d) => !Number.isNaN(d.getTime()), { error: `--${name} is not a real date` });

const ArgsSchema = z.object({
  format: z.enum(['csv', 'ndjson'], { error: '--format must be csv or ndjson' }),
  from: dateArg('from').optional(),
  to: dateArg('to').optional(),
  practice: z.string().min(1, '--practice must not be empty').optional(),
  patient: z.string().min(1, '--patient must not be empty').optional(),
  out: z.string().min(1, '--out must not be empty').optional(),
  actor: z.string().min(1, '--actor must not be empty').optional(),
});

function readArgs() {
  const { values } = parseArgs({
    options: {
      format: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      practice: { type: 'string' },
      patient: { type: 'string' },
      out: { type: 'string' },
      actor: { type: 'string' },
    },
    strict: true,
  });
  const parsed = ArgsSchema.safeParse(values);
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => i.message).join('; '));
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl === undefined || databaseUrl === '')
    throw new Error('DATABASE_URL is not set: point it at the database whose audit_log to export');
  return { args: parsed.data, databaseUrl };
}

async function writeTo(chunks: AsyncIterable<string>, out: string | undefined): Promise<void> {
  if (out !== undefined) {
    await pipeline(Readable.from(chunks), createWriteStream(out, { mode: 0o600 }));
    return;
  }
  // Not pipeline(): it would end process.stdout.
  for await (const chunk of chunks) {
    if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
  }
}

async function main(): Promise<void> {
  const { args, databaseUrl } = readArgs();
  const options: AuditExportOptions = {
    format: args.format,
    from: args.from,
    to: args.to,
    practiceId: args.practice,
    patientId: args.patient,
    actor: { type: 'staff', id: args.actor ?? userInfo().username },
  };
  const pool = createPool(databaseUrl, { max: 2, applicationName: 'labloop-audit-export' });
  try {
    await writeTo(exportAudit(pool, options), args.out);
    if (args.out !== undefined) console.error(`audit:export: wrote ${args.format} to ${args.out}`);
  } finally {
    await pool.end();
  }
}

main().catch((error: unknown) => {
  console.error(`audit:export: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = EXIT_ERROR;
});

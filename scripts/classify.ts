/**
 * `npm run -s classify -- FILE...`: classify the lab results in HL7 v2 ORU^R01 files without
 * Temporal or a database. Prints one JSON object per result (one OBR group) per line on stdout:
 *
 *   {"source":"hl7","messageControlId":…,"resultId":…,"patientId":…,"status":…,"acuity":…,
 *    "observations":[{"code":…,"name":…,"value":…,"units":…,"flag":…}]}
 *
 * Acuity reads flags and, with the default critical-value table and reference ranges, values
 * (docs/critical-values.md). `units` and `flag` are `null` when absent. Every file and every message is processed: valid
 * messages print even when others are bad, in file order then message order. Each bad message,
 * missing file or empty file gets one line on stderr naming the file (and message, segment and
 * field), and the exit code is then 2; 0 means every message in every file was a valid ORU^R01.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { classifyAcuity } from '../domain/classification';
import { DEFAULT_VALUE_RULES } from '../domain/critical-values';
import type { LabResult } from '../domain/lab-result';
import { parseOru, splitHl7Messages, type Hl7Header } from '../api/hl7';

const EXIT_INVALID_INPUT = 2;

/** classify does not route results to practices, so any facility (even none) is acceptable. */
const UNROUTED_PRACTICE = 'classify';

interface ClassifiedResult {
  source: 'hl7';
  messageControlId: string;
  resultId: string;
  patientId: string;
  status: LabResult['status'];
  acuity: ReturnType<typeof classifyAcuity>;
  observations: { code: string; name: string; value: string; units: string | null; flag: string | null }[];
}

function classifiedLine(header: Hl7Header, result: LabResult): string {
  // Built key by key so the output order is the contract's, whatever LabResult's order is.
  const line: ClassifiedResult = {
    source: 'hl7',
    messageControlId: header.messageControlId,
    resultId: result.resultId,
    patientId: result.patient.id,
    status: result.status,
    // The default critical-value table (docs/critical-values.md): no practice is known here.
    acuity: classifyAcuity(result.observations, {}, 'hl7', DEFAULT_VALUE_RULES),
    observations: result.observations.map((o) => ({
      code: o.code,
      name: o.name,
      value: o.value,
      units: o.units ?? null,
      flag: o.flag ?? null,
    })),
  };
  return JSON.stringify(line);
}

/** npm runs scripts from the package root; INIT_CWD is where the user typed the command. */
function resolveInput(file: string): string {
  return path.resolve(process.env.INIT_CWD ?? process.cwd(), file);
}

function readText(file: string): string | { error: string } {
  try {
    return readFileSync(resolveInput(file), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { error: 'no such file' };
    if (code === 'EISDIR') return { error: 'is a directory' };
    if (code === 'EACCES') return { error: 'permission denied' };
    return { error: `cannot be read (${code ?? 'unknown error'})` };
  }
}

function main(files: string[]): number {
  if (files.length === 0) {
    console.error('usage: npm run -s classify -- FILE... (HL7 v2 ORU^R01 files, one or more messages each)');
    return EXIT_INVALID_INPUT;
  }
  let failed = false;
  const out: string[] = [];
  for (const file of files) {
    const text = readText(file);
    if (typeof text !== 'string') {
      console.error(`${file}: cannot read the file: ${text.error}`);
      failed = true;
      continue;
    }
    const messages = splitHl7Messages(text);
    if (messages.length === 0) {
      console.error(`${file}: no HL7 message found (the file is empty)`);
      failed = true;
      continue;
    }
    for (const [i, message] of messages.entries()) {
      const outcome = parseOru(message, { practiceIdFor: () => UNROUTED_PRACTICE });
      if (!outcome.ok) {
        console.error(`${file}: message ${i + 1}: ${outcome.error.message}`);
        failed = true;
        continue;
      }
      for (const result of outcome.results) out.push(classifiedLine(outcome.header, result));
    }
  }
  if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
  return failed ? EXIT_INVALID_INPUT : 0;
}

process.exitCode = main(process.argv.slice(2));

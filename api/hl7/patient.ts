import type { PatientContact } from '../../domain/lab-result';
import { parseHl7DateTime } from './datetime';
import { languageTag } from './language';
import { toE164 } from './phone';
import { Hl7ErrorCode, hl7Problem, hl7Warning, type Hl7Problem, type Hl7Warning } from './problem';
import type { Hl7Reader, Hl7Segment } from './segments';

/** Identifier type code (CX-5, table 0203) of the medical record number. */
const MEDICAL_RECORD_NUMBER = 'MR';
/** Name type code (XPN-7, table 0200) of the legal name. */
const LEGAL_NAME = 'L';
/** Telecommunication equipment type (XTN-3, table 0202) of a cellular phone. */
const CELLULAR_PHONE = 'CP';

/**
 * The patient of a PID segment. Only PID-3 is required; everything else is contact detail that
 * may be absent (the notifier then falls back to other channels). A malformed field we do not need
 * (PID-7, e.g. `196203520` in the HL7 normative example) is left out, with a warning.
 */
export function readPatient(
  reader: Hl7Reader,
  pid: Hl7Segment,
): { ok: true; patient: PatientContact; warnings: Hl7Warning[] } | { ok: false; problem: Hl7Problem } {
  const warnings: Hl7Warning[] = [];
  const at = { segment: 'PID', sequence: pid.occurrence };
  const identifiers = reader
    .repetitions(pid, 3)
    .map((rep) => ({ id: reader.leaf(rep, 1), type: reader.leaf(rep, 5).toUpperCase() }))
    .filter((cx) => cx.id !== '');
  const chosen = identifiers.find((cx) => cx.type === MEDICAL_RECORD_NUMBER) ?? identifiers[0];
  if (chosen === undefined) {
    return {
      ok: false,
      problem: hl7Problem('AE', Hl7ErrorCode.REQUIRED_FIELD_MISSING, 'PID-3 (patient identifier list) is missing', {
        ...at,
        field: 3,
      }),
    };
  }
  const patient: PatientContact = { id: chosen.id };

  const names = reader.repetitions(pid, 5);
  const name = names.find((rep) => reader.leaf(rep, 7).toUpperCase() === LEGAL_NAME) ?? names[0];
  if (name !== undefined) {
    const family = reader.leaf(name, 1);
    const given = reader.leaf(name, 2);
    if (family !== '') patient.lastName = family;
    if (given !== '') patient.firstName = given;
  }

  const rawBirth = reader.value(pid, 7);
  if (rawBirth !== '') {
    const birth = parseHl7DateTime(rawBirth);
    if (birth === undefined) {
      warnings.push(
        hl7Warning(
          Hl7ErrorCode.DATA_TYPE_ERROR,
          'PID-7 (date/time of birth) is not a valid HL7 date (expected YYYYMMDD): ignored',
          { ...at, field: 7 },
        ),
      );
    } else if (birth.length >= 10) {
      // A partial date (year, year and month) is valid HL7 but not a birth date we can use.
      patient.birthDate = birth.slice(0, 10);
    }
  }

  const postalCode = reader.value(pid, 11, 5);
  if (postalCode !== '') patient.postalCode = postalCode;

  const mobile = mobilePhone(reader, pid);
  if (mobile !== undefined) patient.mobilePhone = mobile;

  const language = languageTag(reader.value(pid, 15, 1), reader.value(pid, 15, 2));
  if (language !== undefined) patient.language = language;

  return { ok: true, patient, warnings };
}

interface PhoneNumber {
  equipment: string;
  e164: string | undefined;
}

/** XTN: area code and local number (6, 7) in v2.5 style, else the unformatted (12), else free text (1). */
function phoneNumbers(reader: Hl7Reader, pid: Hl7Segment, field: number): PhoneNumber[] {
  return reader.repetitions(pid, field).map((rep) => {
    const country = reader.leaf(rep, 5).replace(/^\+/, '');
    const area = reader.leaf(rep, 6);
    const local = reader.leaf(rep, 7);
    let written = reader.leaf(rep, 1);
    if (local !== '') written = `${country === '' ? '' : `+${country} `}${area} ${local}`;
    else if (reader.leaf(rep, 12) !== '') written = reader.leaf(rep, 12);
    return { equipment: reader.leaf(rep, 3).toUpperCase(), e164: toE164(written) };
  });
}

/**
 * The number to text, if any. A number the source marks as cellular (CP) wins, from PID-13 then
 * PID-14. Failing that, the first home number (PID-13) whose equipment type the source did not
 * state: older (v2.3) senders never state it, and the notifier checks the line type before the
 * first SMS. A number marked as anything else (PH, FX, BP, Internet) is not a mobile.
 */
function mobilePhone(reader: Hl7Reader, pid: Hl7Segment): string | undefined {
  const home = phoneNumbers(reader, pid, 13);
  const business = phoneNumbers(reader, pid, 14);
  const cellular = [...home, ...business].find((p) => p.equipment === CELLULAR_PHONE && p.e164 !== undefined);
  if (cellular !== undefined) return cellular.e164;
  return home.find((p) => p.equipment === '' && p.e164 !== undefined)?.e164;
}

/** RFC 4180: records end in CRLF. */
export const CSV_LINE_END = '\r\n';

/**
 * One RFC 4180 field: quoted when it holds a comma, a double quote, CR or LF, with quotes doubled.
 * Null is the empty field (the audit log never stores empty strings, so the two cannot be confused).
 */
export function csvField(value: string | null): string {
  if (value === null) return '';
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvRecord(values: readonly (string | null)[]): string {
  return values.map(csvField).join(',') + CSV_LINE_END;
}

import type { z } from 'zod';
import { FakeHttpError } from './http';

/**
 * Validation messages shared by the fakes: every fake names what is wrong the same way
 * (`path: message`, `body` for the whole body), so a test reads one format whichever fake it drives.
 */

/** `field.path: message; …` for every issue, `body` standing for an issue about the whole body. */
export function zodIssuesMessage(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
}

/** Parse a `/__fake/…` control request's body; an invalid one is a 400 naming every problem. */
export function parseControl<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new FakeHttpError(400, zodIssuesMessage(parsed.error));
  return parsed.data;
}

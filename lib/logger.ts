import pino, { type Logger, type LoggerOptions } from 'pino';

/**
 * The logging rule is "IDs only": workflow IDs, message SIDs, internal patient IDs, never names,
 * phone numbers, dates of birth, test names or values. Redaction is the safety net for the paths
 * where PHI could sneak in (request bodies, vendor payloads); it matches paths, not patterns, so
 * code must still never log raw HL7, FHIR or webhook bodies.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-twilio-signature"]',
  'req.headers["x-hub-signature"]',
  'req.headers["x-spruce-signature"]',
  'res.headers["set-cookie"]',
  'body',
  '*.body',
  '*.Body',
  '*.From',
  '*.To',
  '*.patient',
  '*.result',
  '*.observations',
  '*.phone',
  '*.mobilePhone',
  '*.firstName',
  '*.lastName',
  '*.birthDate',
  '*.value',
  'err.payload',
];

export function loggerOptions(level: string, name: string): LoggerOptions {
  return {
    name,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: {
      // Error messages can quote input (a parser echoing a field): keep type and stack frames, not text.
      err: (err: Error & { code?: unknown; type?: unknown }) => ({
        type: err.name,
        code: typeof err.code === 'string' || typeof err.code === 'number' ? err.code : undefined,
        failureType: typeof err.type === 'string' ? err.type : undefined,
        stack: err.stack?.split('\n').slice(1, 6).join('\n'),
      }),
      req: (req: { method?: string; routeOptions?: { url?: string }; url?: string; id?: string }) => ({
        method: req.method,
        // The route pattern, not the URL: paths can carry identifiers we do not want in logs.
        route: req.routeOptions?.url ?? req.url?.split('?')[0],
        id: req.id,
      }),
    },
  };
}

export function createLogger(level: string, name: string, destination?: pino.DestinationStream): Logger {
  return destination === undefined ? pino(loggerOptions(level, name)) : pino(loggerOptions(level, name), destination);
}

export type { Logger };

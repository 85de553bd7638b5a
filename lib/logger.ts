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
  'err.payload',
  // Each PHI-bearing key at the top level and one level down (a wildcard matches one level only).
  ...[
    'body',
    'Body',
    'From',
    'To',
    'to',
    'from',
    'patient',
    'result',
    'observations',
    'comments',
    'panelName',
    'phone',
    'mobilePhone',
    'firstName',
    'lastName',
    'birthDate',
    'value',
    'note',
    'noteToPatient',
    'text',
  ].flatMap((key) => [key, `*.${key}`]),
];

/** Five frames locate a failure; deeper frames are framework internals. */
const MAX_STACK_FRAMES = 5;

/**
 * An error as logs may show it: its type, code and stack frames, never its message. Messages can
 * quote input (a parser echoing a field, a vendor error quoting a number), and a multi-line message
 * continues into the stack text, so only the `at …` frame lines are kept.
 */
export function serializeError(err: Error & { code?: unknown; type?: unknown }) {
  return {
    type: err.name,
    code: typeof err.code === 'string' || typeof err.code === 'number' ? err.code : undefined,
    failureType: typeof err.type === 'string' ? err.type : undefined,
    stack: (err.stack ?? '')
      .split('\n')
      .filter((line) => /^\s+at /.test(line))
      .slice(0, MAX_STACK_FRAMES)
      .join('\n'),
  };
}

export function loggerOptions(level: string, name: string): LoggerOptions {
  return {
    name,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: {
      err: serializeError,
      req: (req: { method?: string; routeOptions?: { url?: string }; id?: string }) => ({
        method: req.method,
        // The route pattern, never the URL: paths and queries can carry identifiers or PHI. A
        // request that matched no route is logged as such, not by what the caller typed.
        route: req.routeOptions?.url ?? '(no route)',
        id: req.id,
      }),
    },
  };
}

export function createLogger(level: string, name: string, destination?: pino.DestinationStream): Logger {
  return destination === undefined ? pino(loggerOptions(level, name)) : pino(loggerOptions(level, name), destination);
}

export type { Logger };

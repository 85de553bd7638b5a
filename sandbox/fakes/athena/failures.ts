import { z } from 'zod';

/**
 * Failure injection for the athena fake. A rule answers the next `count` matching requests with an
 * error status or by hanging, either before the request is processed (nothing happened) or after it
 * (the write landed but the client never hears so): the second is what makes a non-idempotent write
 * ambiguous.
 */

export const FailureRuleSchema = z.object({
  count: z.number().int().positive().default(1),
  kind: z.enum(['status', 'hang']).default('status'),
  /** For `status`: 500, 502, 503, 429, 401… */
  status: z.number().int().min(400).max(599).default(500),
  /** For 429/503: sends `Retry-After: <seconds>` when given. */
  retryAfterSeconds: z.number().int().nonnegative().optional(),
  when: z.enum(['before', 'after']).default('before'),
  /** Only requests with this method. */
  method: z.enum(['GET', 'POST', 'PUT', 'DELETE']).optional(),
  /** Only requests whose path contains this text; default: every `/v1/` request (not the token endpoint). */
  pathIncludes: z.string().min(1).optional(),
  /**
   * For `status`: the error body to answer instead of the default one, e.g. athena's wording that
   * quotes the patient (`{"error":"...","detailedmessage":"No chart for Jane Doe"}`).
   */
  errorBody: z.object({ error: z.string().optional(), detailedmessage: z.string().optional() }).optional(),
});
export type FailureRuleInput = z.input<typeof FailureRuleSchema>;
type FailureRule = z.output<typeof FailureRuleSchema> & { remaining: number };

export type FailureAction =
  | {
      kind: 'status';
      status: number;
      retryAfterSeconds?: number;
      when: 'before' | 'after';
      errorBody?: Record<string, unknown>;
    }
  | { kind: 'hang'; when: 'before' | 'after' };

export class FailureInjector {
  private rules: FailureRule[] = [];
  outage = false;

  add(input: FailureRuleInput): void {
    const rule = FailureRuleSchema.parse(input);
    this.rules.push({ ...rule, remaining: rule.count });
  }

  clear(): void {
    this.rules = [];
    this.outage = false;
  }

  /** The action for this request, consuming one use of the first matching rule. */
  take(method: string, path: string): FailureAction | undefined {
    const rule = this.rules.find(
      (r) =>
        r.remaining > 0 &&
        (r.method === undefined || r.method === method) &&
        (r.pathIncludes === undefined ? path.startsWith('/v1/') : path.includes(r.pathIncludes)),
    );
    if (rule === undefined) return undefined;
    rule.remaining -= 1;
    this.rules = this.rules.filter((r) => r.remaining > 0);
    return rule.kind === 'hang'
      ? { kind: 'hang', when: rule.when }
      : {
          kind: 'status',
          status: rule.status,
          retryAfterSeconds: rule.retryAfterSeconds,
          when: rule.when,
          ...(rule.errorBody === undefined ? {} : { errorBody: rule.errorBody }),
        };
  }
}

/** athena-style error body for an injected status. */
export function injectedErrorBody(status: number): Record<string, unknown> {
  if (status === 401) return { error: 'Unauthorized', detailedmessage: 'The access token is invalid or has expired.' };
  if (status === 429) return { error: 'Too Many Requests', detailedmessage: 'Rate limit exceeded.' };
  if (status === 503) return { error: 'Service Unavailable', detailedmessage: 'athenaNet is temporarily unavailable.' };
  return { error: 'Internal Server Error', detailedmessage: `Injected failure (HTTP ${status}).` };
}

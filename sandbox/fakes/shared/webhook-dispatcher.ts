import type { TaskTracker } from './tasks';

/**
 * Outbound webhook delivery for the fakes, with the behaviours receivers must survive: retries when
 * the receiver answers non-2xx or not at all (bounded, like the vendors), duplicate delivery of the
 * same event, and reordering (hold deliveries, then release them in reverse).
 */

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** What this is, for the delivery log and the outbox page ("sent", "conversationItem.created", …). */
  label: string;
  /** The id the receiver is meant to dedupe on (Twilio idempotency token, Spruce item id). */
  eventId: string;
}

export interface WebhookAttempt {
  label: string;
  eventId: string;
  url: string;
  attempt: number;
  /** True for the deliberate second copy of a duplicated event. */
  duplicate: boolean;
  at: string;
  /** HTTP status the receiver answered, or null when it did not (refused, timed out). */
  status: number | null;
  error?: string;
}

export interface WebhookDispatcherOptions {
  /** Attempts per delivery including the first (Twilio retries once by default; Spruce up to 10 times). */
  maxAttempts: number;
  /** Wait between attempts (Spruce waits 2 minutes; fakes use milliseconds). */
  retryDelayMs: number;
  /** Per-attempt deadline (Spruce gives the receiver 5 s to acknowledge; Twilio 15 s by default). */
  timeoutMs: number;
}

export class WebhookDispatcher {
  private readonly log: WebhookAttempt[] = [];
  private held: WebhookRequest[] | null = null;

  constructor(
    private readonly tasks: TaskTracker,
    private options: WebhookDispatcherOptions,
  ) {}

  configure(options: Partial<WebhookDispatcherOptions>): void {
    this.options = { ...this.options, ...options };
  }

  /** Queue a delivery in the background; with `duplicate`, the same request is delivered a second time. */
  deliver(request: WebhookRequest, options: { duplicate?: boolean } = {}): void {
    if (this.held !== null) {
      this.held.push(request);
      if (options.duplicate === true) this.held.push(request);
      return;
    }
    this.tasks.track(`webhook ${request.label}`, this.deliverNow(request, options.duplicate ?? false));
  }

  /** Deliver and wait for the outcome (after retries): the receiver's last status, or null. */
  async deliverNow(request: WebhookRequest, duplicate = false): Promise<number | null> {
    return (await this.deliverForResponse(request, duplicate)).status;
  }

  /** Like deliverNow, with the body of the receiver's last answer (Twilio acts on a TwiML reply). */
  async deliverForResponse(
    request: WebhookRequest,
    duplicate = false,
  ): Promise<{ status: number | null; body: string | null }> {
    const outcome = await this.attemptAll(request, false);
    if (duplicate) await this.attemptAll(request, true);
    return outcome;
  }

  /** Hold every delivery from now on until `release()`. */
  hold(): void {
    this.held ??= [];
  }

  /** Send what was held, in order or reversed (out-of-order arrival), one after the other. */
  release(options: { reverse?: boolean } = {}): number {
    const held = this.held ?? [];
    this.held = null;
    const ordered = options.reverse === true ? [...held].reverse() : held;
    this.tasks.track(
      'webhook release',
      (async () => {
        for (const request of ordered) await this.attemptAll(request, false);
      })(),
    );
    return ordered.length;
  }

  isHolding(): boolean {
    return this.held !== null;
  }

  heldCount(): number {
    return this.held?.length ?? 0;
  }

  attempts(): WebhookAttempt[] {
    return [...this.log];
  }

  clearLog(): void {
    this.log.length = 0;
  }

  private async attemptAll(
    request: WebhookRequest,
    duplicate: boolean,
  ): Promise<{ status: number | null; body: string | null }> {
    let lastStatus: number | null = null;
    let lastBody: string | null = null;
    for (let attempt = 1; attempt <= this.options.maxAttempts; attempt++) {
      if (this.tasks.isClosed) return { status: lastStatus, body: lastBody };
      if (attempt > 1 && !(await this.tasks.sleep(this.options.retryDelayMs))) {
        return { status: lastStatus, body: lastBody };
      }
      const record: WebhookAttempt = {
        label: request.label,
        eventId: request.eventId,
        url: request.url,
        attempt,
        duplicate,
        at: new Date().toISOString(),
        status: null,
      };
      try {
        const response = await fetch(request.url, {
          method: 'POST',
          headers: request.headers,
          body: request.body,
          signal: AbortSignal.timeout(this.options.timeoutMs),
        });
        lastBody = await response.text().catch(() => null);
        record.status = response.status;
        lastStatus = response.status;
      } catch (error) {
        record.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      }
      this.log.push(record);
      if (record.status !== null && record.status >= 200 && record.status < 300) {
        return { status: record.status, body: lastBody };
      }
    }
    return { status: lastStatus, body: lastBody };
  }
}

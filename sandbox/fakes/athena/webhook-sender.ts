import { createHmac, randomUUID } from 'node:crypto';
import type { LabResultChange } from './model';

/**
 * athena's Event Subscription delivery, scaled down for tests: one id-only notification Bundle per
 * lab-result change, signed `X-Hub-Signature: sha256=…`, POSTed at least once. Non-2xx answers and
 * timeouts are retried with exponential backoff (athena retries for an hour; here a few attempts
 * 50 ms apart by default). Switches make deliveries duplicate (same body, same event id, twice) or
 * arrive reordered (held, then sent newest first on `flush()`).
 */

/** athena gives a webhook 5 s to answer. */
export const WEBHOOK_TIMEOUT_MS = 5_000;
/** 5 attempts with waits 50, 100, 200, 400 ms: a whole retry cycle fits in under a second of a test. */
export const WEBHOOK_MAX_ATTEMPTS = 5;
export const WEBHOOK_RETRY_BASE_DELAY_MS = 50;
/** Delivery log kept for the control API and the HTML page (most recent only). */
const MAX_LOG_ENTRIES = 10_000;

/**
 * WebSub signature. Computed here rather than imported from the client, so the fake stays an independent
 * check of the client's verifier.
 */
function sign(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface WebhookTarget {
  url: string;
  secret: string;
  maxAttempts?: number;
  retryBaseDelayMs?: number;
  timeoutMs?: number;
}

export interface WebhookDelivery {
  bundleId: string;
  eventIds: string[];
  topic: string;
  attempt: number;
  /** HTTP status, or undefined when the request failed (timeout, connection refused). */
  status?: number;
  error?: string;
  delivered: boolean;
  /** True for the last failed attempt: athena would move it to the dead-letter queue. */
  deadLettered: boolean;
  at: string;
}

interface Notification {
  bundleId: string;
  eventIds: string[];
  topic: string;
  body: string;
}

export class WebhookSender {
  private target: WebhookTarget | undefined;
  private duplicate = false;
  private reorder = false;
  private held: Notification[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private readonly log: WebhookDelivery[] = [];
  private closed = false;

  constructor(
    private readonly baseUrl: () => string,
    private readonly subscriptionId: string,
  ) {}

  configure(target: WebhookTarget | undefined): void {
    this.target = target;
  }

  setMode(mode: { duplicate?: boolean; reorder?: boolean }): void {
    if (mode.duplicate !== undefined) this.duplicate = mode.duplicate;
    if (mode.reorder !== undefined) {
      this.reorder = mode.reorder;
      if (!mode.reorder) this.flush();
    }
  }

  /** Builds and sends (or holds) the notification for one change. No target: nothing is sent. */
  notify(change: LabResultChange): void {
    if (this.target === undefined || this.closed) return;
    const notification = this.build(change);
    if (this.reorder) this.held.push(notification);
    else this.dispatch(notification);
  }

  /** Sends held notifications newest first. */
  flush(): void {
    const held = this.held.reverse();
    this.held = [];
    for (const notification of held) this.dispatch(notification);
  }

  /** Resolves when no delivery (or retry) is in flight. Held notifications are not waited for. */
  async settled(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  deliveries(): WebhookDelivery[] {
    return [...this.log];
  }

  close(): void {
    this.closed = true;
    this.held = [];
  }

  private dispatch(notification: Notification): void {
    const copies = this.duplicate ? 2 : 1;
    for (let i = 0; i < copies; i += 1) {
      const delivery = this.deliver(notification).finally(() => this.inflight.delete(delivery));
      this.inflight.add(delivery);
    }
  }

  private async deliver(notification: Notification): Promise<void> {
    const target = this.target;
    if (target === undefined) return;
    const maxAttempts = target.maxAttempts ?? WEBHOOK_MAX_ATTEMPTS;
    const baseDelay = target.retryBaseDelayMs ?? WEBHOOK_RETRY_BASE_DELAY_MS;
    for (let attempt = 1; attempt <= maxAttempts && !this.closed; attempt += 1) {
      let status: number | undefined;
      let error: string | undefined;
      try {
        const response = await fetch(target.url, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/fhir+json',
            'X-Hub-Signature': sign(target.secret, notification.body),
          },
          body: notification.body,
          signal: AbortSignal.timeout(target.timeoutMs ?? WEBHOOK_TIMEOUT_MS),
        });
        status = response.status;
        await response.arrayBuffer();
      } catch (caught) {
        error = caught instanceof Error ? caught.name : 'error';
      }
      const delivered = status !== undefined && status >= 200 && status < 300;
      if (this.log.length >= MAX_LOG_ENTRIES) this.log.shift();
      this.log.push({
        bundleId: notification.bundleId,
        eventIds: notification.eventIds,
        topic: notification.topic,
        attempt,
        status,
        error,
        delivered,
        deadLettered: !delivered && attempt === maxAttempts,
        at: new Date().toISOString(),
      });
      if (delivered) return;
      if (attempt < maxAttempts) await new Promise((resolve) => setTimeout(resolve, baseDelay * 2 ** (attempt - 1)));
    }
  }

  /** The id-only notification Bundle, modelled on athena's aone-fhir-subscriptions README. */
  private build({ topic, result, at }: LabResultChange): Notification {
    const bundleId = randomUUID();
    const statusId = randomUUID();
    const eventId = randomUUID();
    const { practiceId, patientId, departmentId, labResultId } = result;
    const bundle = {
      resourceType: 'Bundle',
      id: bundleId,
      type: 'history',
      meta: {
        profile: [
          'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification',
        ],
      },
      timestamp: new Date().toISOString(),
      entry: [
        {
          fullUrl: `urn:uuid:${statusId}`,
          resource: {
            resourceType: 'SubscriptionStatus',
            id: statusId,
            status: 'active',
            type: 'event-notification',
            // Counters are per bundle in athena's implementation, not monotonic.
            eventsSinceSubscriptionStart: '1',
            eventsInNotification: 1,
            subscription: { reference: `Subscription/${this.subscriptionId}` },
            topic: `${this.baseUrl()}/fhir/r4/SubscriptionTopic/${topic}`,
            notificationEvent: [
              {
                eventNumber: '1',
                id: eventId,
                timestamp: at.toISOString(),
                // Lab results have no FHIR endpoint: only the proprietary identifier is given.
                focus: {
                  identifier: { system: `urn:athenahealth:athenanet:labresult:${practiceId}`, value: labResultId },
                },
                additionalContext: [
                  {
                    reference: `Patient/a-${practiceId}.E-${patientId}`,
                    identifier: { system: `urn:athenahealth:athenanet:patient:${practiceId}`, value: patientId },
                  },
                  {
                    reference: `Organization/a-${practiceId}.Department-${departmentId}`,
                    identifier: { system: `urn:athenahealth:athenanet:department:${practiceId}`, value: departmentId },
                  },
                ],
              },
            ],
          },
          request: { method: 'GET', url: `Subscription/${this.subscriptionId}/$status` },
          response: { status: '200' },
        },
      ],
    };
    return { bundleId, eventIds: [eventId], topic, body: JSON.stringify(bundle) };
  }
}

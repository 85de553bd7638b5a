import { patientWindowEnd } from '../../../activities/calendar';
import type { PriorRunSummary } from '../../../domain/activity-contract';
import { addBusinessMinutes } from '../../../domain/business-calendar';
import { classifyAcuity } from '../../../domain/classification';
import type { Acuity, LabResult } from '../../../domain/lab-result';
import { nextPatientSendTime } from '../../../domain/patient-window';
import type { PracticePolicy } from '../../../domain/practice';
import { normalizeEvent } from '../../../lib/audit/validate';
import type { Command } from '../../../workflows/commands';
import { decide, initialModel } from '../../../workflows/decide';
import type { DecisionContext } from '../../../workflows/draft';
import type { CompletionEvent, WorkflowEvent } from '../../../workflows/events';
import { signOffProblem } from '../../../workflows/gate';
import { nextWakeAt } from '../../../workflows/waiting';
import type { Model } from '../../../workflows/model';
import { statusView } from '../../../workflows/view';
import { contentDigest } from '../../../workflows/content-digest';
import { contentKey } from '../../../workflows/intake';
import { phiStrings } from './fixtures';

/**
 * Drives the pure decision core the way the workflow shell does (commands in, completion events
 * out, ticks at due instants), with the outside world chosen by the test: which commands complete
 * when and how, and which signals arrive. An oracle written from the issue's rules (not from the
 * core's state) checks every command as it is issued.
 */

export type Outcome = 'ok' | 'outage' | 'permanent' | 'consent' | 'no-account';

interface Issued {
  at: number;
  command: Command;
  /** The core cancelled this send while it was in flight. */
  cancelled?: boolean;
}

/**
 * The spec's own bookkeeping of the gate: what is current, whether it is signed, cancelled. A gate
 * opened by a correction (new values after an earlier version, of this run or of the earlier run it
 * continues) is signed by a source's "reviewed" flag only when that flag is dated at or after the
 * correction's report; any other gate by any source sign-off.
 */
export class Oracle {
  content = '';
  status: LabResult['status'] = 'preliminary';
  acuity: Acuity = 'normal';
  epoch = 0;
  signed = false;
  cancelled = false;
  /** The current gate was opened by a correction. */
  correction = false;
  private openedReportedAt: string | undefined;
  private readonly seen = new Set<string>();
  private taken = 0;
  private patientId: string | undefined;

  /**
   * `prior`: the earlier run this one continues (its findPriorRuns answer). Its patient is the
   * established one; its content digest tells a re-delivery from a correction.
   */
  constructor(
    private readonly policy: PracticePolicy,
    private readonly prior?: { summary: PriorRunSummary; workflowId: string },
  ) {
    this.patientId = prior?.summary.patientId;
  }

  /** Returns whether the message was new (a new version). */
  receive(result: LabResult): boolean {
    if (this.seen.has(result.messageId) || result.practiceId !== this.policy.practiceId) return false;
    if (this.patientId !== undefined && result.patient.id !== this.patientId) {
      this.seen.add(result.messageId);
      return false;
    }
    const first = this.taken === 0;
    this.seen.add(result.messageId);
    this.taken += 1;
    this.patientId ??= result.patient.id;
    if (result.status === 'cancelled') {
      this.cancelled = true;
      return true;
    }
    const content = JSON.stringify(result.observations.map((o) => [o.code, o.value, o.flag ?? null]));
    const regate =
      first ||
      this.cancelled ||
      content !== this.content ||
      (result.status === 'corrected' && this.status !== 'corrected');
    if (regate) {
      this.epoch += 1;
      this.signed = false;
      this.correction = !first || (this.prior !== undefined && !this.repeatsPrior(result));
      this.openedReportedAt = result.reportedAt;
      this.cancelled = false;
    }
    this.content = content;
    this.status = result.status;
    this.acuity = classifyAcuity(result.observations, this.policy.flagMappings, result.source, this.policy.valueRules);
    if (result.signedOff !== undefined && !this.signed) {
      const at = result.signedOff.at;
      const reported = this.openedReportedAt ?? result.reportedAt;
      const dated = at !== undefined && reported !== undefined && Date.parse(at) >= Date.parse(reported);
      if (!this.correction || dated) this.signed = true;
    }
    return true;
  }

  /** The patient the result is established for (the earlier run's, else the first version's). */
  get establishedPatientId(): string | undefined {
    return this.patientId;
  }

  private repeatsPrior(result: LabResult): boolean {
    const summary = this.prior?.summary;
    if (summary?.lastContentDigest === undefined || summary.lastStatus === undefined) return false;
    if (summary.lastStatus === 'cancelled') return false;
    if (contentDigest(this.prior!.workflowId, contentKey(result)) !== summary.lastContentDigest) return false;
    return !(result.status === 'corrected' && summary.lastStatus !== 'corrected');
  }
}

export interface SimSetup {
  result: LabResult;
  policy: PracticePolicy;
  startMs: number;
  smsConsent: boolean;
  spruceSecure: boolean;
  prior: PriorRunSummary;
}

export class Simulator {
  model: Model;
  nowMs: number;
  readonly ctx: DecisionContext;
  readonly pending: Issued[] = [];
  readonly issued: Issued[] = [];
  readonly violations: string[] = [];
  readonly oracle: Oracle;
  smsConsent: boolean;
  private readonly accepted = new Map<string, string>();
  private readonly resultSmsPerVersion = new Map<number, number>();
  private invitations = 0;
  private ids = 0;
  private tickedAt: number | undefined;
  private readonly phi: string[];

  constructor(private readonly setup: SimSetup) {
    this.nowMs = setup.startMs;
    this.smsConsent = setup.smsConsent;
    this.ctx = {
      workflowId: 'lab-result-195900-0123456789abcdef0123',
      runId: 'run-1',
      resultRef: '0123456789abcdef0123',
      policy: setup.policy,
    };
    this.oracle = new Oracle(
      setup.policy,
      setup.prior.lastVersion > 0 ? { summary: setup.prior, workflowId: this.ctx.workflowId } : undefined,
    );
    this.phi = phiStrings(setup.result);
    const input = { result: setup.result, receivedAt: this.iso(), policy: setup.policy };
    this.model = initialModel(input);
    this.dispatch({ type: 'started', at: this.iso(), input });
    this.receive(setup.result);
  }

  iso(): string {
    return new Date(this.nowMs).toISOString();
  }

  dispatch(event: WorkflowEvent): void {
    const { model, commands } = decide(this.model, event, this.ctx);
    this.model = model;
    for (const command of commands) this.issue(command);
  }

  // -------------------------------------------------------------------------------------------
  // The outside world

  receive(result: LabResult): void {
    this.oracle.receive(result);
    this.dispatch({ type: 'received', at: this.iso(), message: { result, receivedAt: this.iso() } });
  }

  /** A provider signs through the update: refused by the validator exactly as the workflow would. */
  signOff(providerId: string): boolean {
    const request = {
      providerId,
      practiceId: this.setup.policy.practiceId,
      via: 'review-app' as const,
      expectedVersion: this.model.version,
    };
    if (!this.model.ready || signOffProblem({ m: this.model, policy: this.setup.policy }, request) !== undefined)
      return false;
    this.oracle.signed = true;
    this.dispatch({ type: 'signOff', at: this.iso(), request });
    return true;
  }

  signal(event: WorkflowEvent): void {
    this.dispatch(event);
  }

  /** Move the clock, firing due instants on the way like the shell's timer. */
  advance(ms: number): void {
    const target = this.nowMs + ms;
    for (;;) {
      const wake = nextWakeAt(this.model, this.setup.policy);
      const wakeMs = wake === undefined ? undefined : Date.parse(wake.at);
      if (wakeMs === undefined || wakeMs > target) break;
      if (wakeMs > this.nowMs) this.nowMs = wakeMs;
      if (this.tickedAt === wakeMs) break;
      this.tickedAt = wakeMs;
      this.dispatch({ type: 'tick', at: this.iso() });
    }
    this.nowMs = Math.max(this.nowMs, target);
  }

  /** Complete the `index`-th pending command (modulo) with `outcome`. */
  complete(index: number, outcome: Outcome): void {
    if (this.pending.length === 0) return;
    const [issued] = this.pending.splice(index % this.pending.length, 1);
    const event =
      issued.cancelled === true && outcome !== 'ok' && 'key' in issued.command
        ? ({
            type: 'deliveryFailed',
            at: this.iso(),
            key: issued.command.key,
            failure: 'cancelled',
            outageSpentMs: 0,
          } as const)
        : this.outcomeOf(issued.command, outcome);
    if (event !== undefined) this.dispatch(event);
  }

  /** Let everything finish: all commands succeed, days pass. */
  drain(rounds = 6): void {
    for (let i = 0; i < rounds; i++) {
      while (this.pending.length > 0) this.complete(0, 'ok');
      this.advance(3 * 24 * 60 * 60_000);
    }
    while (this.pending.length > 0) this.complete(0, 'ok');
  }

  // -------------------------------------------------------------------------------------------
  // Invariants, checked as each command is issued

  private violation(what: string): void {
    this.violations.push(`${what} (at ${this.iso()})`);
  }

  private issue(command: Command): void {
    const issued = { at: this.nowMs, command };
    this.issued.push(issued);
    switch (command.type) {
      case 'audit': {
        try {
          normalizeEvent(command.event);
        } catch (err) {
          this.violation(`invalid audit event: ${String(err)}`);
        }
        const text = JSON.stringify(command.event).toLowerCase();
        for (const phi of this.phi) if (text.includes(phi.toLowerCase())) this.violation('PHI in an audit event');
        return;
      }
      case 'reviewItem':
      case 'linkPatient':
      case 'closePatient':
        return;
      case 'cancelSend': {
        // Like the shell: the in-flight send's activity is cancelled; its answer still comes back,
        // as "cancelled" unless the attempt under way had already landed (completed 'ok').
        const target = this.pending.find(
          (p) =>
            (p.command.type === 'sendSms' || p.command.type === 'sendSpruce' || p.command.type === 'postPortal') &&
            p.command.key === command.key,
        );
        if (target !== undefined) target.cancelled = true;
        return;
      }
      case 'sendSms':
      case 'sendSpruce':
      case 'postPortal': {
        const o = this.oracle;
        if (!o.signed) this.violation(`${command.type} before sign-off`);
        if (o.cancelled) this.violation(`${command.type} after cancel`);
        if (o.status !== 'final' && o.status !== 'corrected')
          this.violation(`${command.type} for a ${o.status} result`);
        if (o.acuity === 'critical') this.violation(`${command.type} for a critical result`);
        const key = `${command.request.resultVersion}:${command.request.step}`;
        if (this.accepted.has(key)) this.violation(`${command.type} re-sent after it was accepted (${key})`);
        break;
      }
      case 'findPriorRuns':
      case 'computeDeadline':
      case 'gatherContact':
      case 'computeSendWindow':
      case 'page':
      case 'staffSmsPage':
      case 'resolveOnCall':
      case 'createCallTask':
        break;
    }
    this.pending.push(issued);
  }

  private nextId(prefix: string): string {
    this.ids += 1;
    return `${prefix}${this.ids}`;
  }

  private outcomeOf(command: Command, outcome: Outcome): CompletionEvent | undefined {
    const at = this.iso();
    switch (command.type) {
      case 'findPriorRuns':
        return { type: 'priorRunsFound', at, summary: this.setup.prior };
      case 'computeDeadline':
        return {
          type: 'deadlineComputed',
          at,
          epoch: command.epoch,
          level: command.level,
          deadline: addBusinessMinutes(command.startIso, command.businessMinutes, this.setup.policy.calendar),
        };
      case 'gatherContact':
        return {
          type: 'contactGathered',
          at,
          epoch: command.epoch,
          facts: { smsConsent: this.smsConsent, zones: ['America/New_York'], spruceSecure: this.setup.spruceSecure },
        };
      case 'computeSendWindow': {
        const sendAt = nextPatientSendTime(command.atIso, command.zones, this.setup.policy.patientQuietHours);
        return {
          type: 'sendWindowComputed',
          at,
          key: command.key,
          sendAt,
          windowEndsAt: patientWindowEnd(sendAt, command.zones, this.setup.policy.patientQuietHours),
        };
      }
      case 'sendSms':
      case 'sendSpruce':
      case 'postPortal': {
        const key = `${command.request.resultVersion}:${command.request.step}`;
        if (command.type === 'sendSms' && command.request.requiresConsent && !this.smsConsent) outcome = 'consent';
        if (outcome === 'ok') {
          const known = this.accepted.get(key);
          const id = known ?? this.nextId(command.type === 'sendSms' ? 'SM' : 'ref');
          if (known === undefined) {
            this.accepted.set(key, id);
            if (command.type === 'sendSms') this.countSms(command.request.resultVersion, command.request.template);
          }
          return { type: 'delivered', at, key: command.key, providerMessageId: id, alreadySent: known !== undefined };
        }
        if (outcome === 'outage') {
          const windowClosed = command.type === 'sendSms' && command.notAfter !== undefined;
          const spent = windowClosed ? Math.max(0, Date.parse(command.notAfter!) - this.nowMs) : command.outageBudgetMs;
          this.advance(spent);
          return {
            type: 'deliveryFailed',
            at: this.iso(),
            key: command.key,
            failure: windowClosed && spent < command.outageBudgetMs ? 'window-closed' : 'outage',
            outageSpentMs: spent,
          };
        }
        if (outcome === 'no-account' && command.type === 'sendSpruce') {
          return {
            type: 'deliveryFailed',
            at,
            key: command.key,
            failure: 'no-account',
            errorType: 'SpruceNoAccountError',
            outageSpentMs: 0,
          };
        }
        if (outcome === 'consent' && command.type === 'sendSms') {
          return {
            type: 'deliveryFailed',
            at,
            key: command.key,
            failure: 'consent-missing',
            errorType: 'SmsConsentMissingError',
            outageSpentMs: 0,
          };
        }
        return {
          type: 'deliveryFailed',
          at,
          key: command.key,
          failure: 'permanent',
          errorType: 'SmsPermanentError',
          outageSpentMs: 0,
        };
      }
      case 'page':
        return outcome === 'permanent'
          ? {
              type: 'pageFailed',
              at,
              step: command.request.step,
              version: command.request.resultVersion,
              errorType: 'SprucePermanentError',
            }
          : {
              type: 'paged',
              at,
              step: command.request.step,
              version: command.request.resultVersion,
              pageRef: this.nextId('page'),
              pagedAt: at,
            };
      case 'staffSmsPage':
        return outcome === 'permanent'
          ? {
              type: 'staffSmsPageFailed',
              at,
              step: command.request.step,
              version: command.request.resultVersion,
              errorType: 'SmsPermanentError',
            }
          : {
              type: 'staffSmsPaged',
              at,
              step: command.request.step,
              version: command.request.resultVersion,
              pageRef: this.nextId('SM'),
              pagedAt: at,
            };
      case 'resolveOnCall':
        return {
          type: 'onCallResolved',
          at,
          epoch: command.epoch,
          staffId: this.setup.policy.onCallProviderId,
          ...(outcome === 'permanent' ? { failed: true } : {}),
        };
      case 'createCallTask':
        return outcome === 'permanent'
          ? {
              type: 'callTaskFailed',
              at,
              step: command.request.step,
              version: command.request.resultVersion,
              errorType: 'AthenaPermanentError',
            }
          : {
              type: 'callTaskCreated',
              at,
              step: command.request.step,
              version: command.request.resultVersion,
              taskId: this.nextId('task'),
            };
      case 'audit':
      case 'reviewItem':
      case 'linkPatient':
      case 'closePatient':
      case 'cancelSend':
        return undefined;
    }
  }

  private countSms(version: number, template: string): void {
    if (template === 'consent-invitation') {
      this.invitations += 1;
      if (this.invitations > 1) this.violation('a second consent invitation');
      return;
    }
    const n = (this.resultSmsPerVersion.get(version) ?? 0) + 1;
    this.resultSmsPerVersion.set(version, n);
    if (n > 1) this.violation(`two result texts for version ${version}`);
  }

  /** Every result text that went out, by version. */
  resultTexts(): Map<number, number> {
    return this.resultSmsPerVersion;
  }

  view() {
    return statusView(this.model, this.ctx);
  }

  phiIn(text: string): boolean {
    const lower = text.toLowerCase();
    return this.phi.some((p) => lower.includes(p.toLowerCase()));
  }
}

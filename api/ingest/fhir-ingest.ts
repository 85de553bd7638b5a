import { createHash } from 'node:crypto';
import type { Logger } from '../../lib/logger';
import type { PracticeRegistry } from '../../lib/practices';
import { senderMay, type AuthenticatedSender } from '../../lib/senders';
import { mapFhirToResults, type FhirProblem } from '../fhir';
import type { Handoff } from '../../lib/ingest/handoff';

/**
 * One FHIR R4 message (a DiagnosticReport with contained or referenced Observations, or a Bundle
 * of them) in, durable workflow starts/signals out, through the same hand-off as HL7.
 *
 * Idempotency: the inbound message ID is `sha256:<digest of the exact body>`. A retransmission (the
 * same bytes) is recognised and answered again without a signal; a different body is a new message,
 * and each result's own version (`meta.versionId`, else `Bundle.id`, else that digest) lets the
 * lab-result workflow ignore a version it has already seen. Bundle.id alone is not used as the key:
 * senders reuse it across re-serialisations, which would turn an honest resend into a conflict.
 */
export type FhirIngestOutcome =
  | { kind: 'accepted'; workflowIds: string[]; duplicate: boolean }
  /**
   * 400: the body is not what we accept; 403: the practice is outside the sender's scope; 422: it
   * names a practice we do not serve.
   */
  | { kind: 'refused'; status: 400 | 403 | 422; problems: FhirProblem[] }
  /** Temporal or the database is unavailable: nothing was recorded as handed off; resend later. */
  | { kind: 'unavailable' };

export function createFhirIngest(deps: { handoff: Handoff; practices: PracticeRegistry; logger: Logger }) {
  /**
   * `from`: the authenticated sender; the practice must be one it may send for. `sender`: the
   * client's token name, which namespaces report IDs that name no system.
   */
  return async function ingestFhir(
    rawBody: string,
    practiceId: string | undefined,
    from: AuthenticatedSender,
    sender?: string,
  ): Promise<FhirIngestOutcome> {
    if (practiceId === undefined || practiceId.trim() === '') {
      return refused(400, 'practice', 'missing: name the practice in the query string (?practice=<practiceId>)');
    }
    if (deps.practices.policy(practiceId) === undefined) {
      return refused(422, 'practice', `practice "${practiceId.slice(0, 64)}" is not configured here`);
    }
    // Before the body is read: the query string names the practice, the token decides.
    if (!senderMay(from.sender, 'ingest', practiceId)) {
      deps.logger.warn({ sender: from.sender.id }, 'FHIR message refused: practice outside the sender’s scope');
      return refused(
        403,
        'practice',
        `sender ${from.sender.id} may not send results for practice "${practiceId.slice(0, 64)}"`,
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(rawBody);
    } catch {
      return refused(400, '', 'the body is not valid JSON');
    }
    const messageId = `sha256:${createHash('sha256').update(rawBody).digest('hex')}`;
    const mapped = mapFhirToResults(body, {
      practiceIdFor: () => practiceId,
      messageIdFallback: messageId,
      ...(sender === undefined ? {} : { unqualifiedIssuer: `fhir-client:${sender}` }),
    });
    if (!mapped.ok) {
      deps.logger.info(
        { fhir: { problems: mapped.problems.length, firstPath: mapped.problems[0]?.path } },
        'FHIR message refused',
      );
      return { kind: 'refused', status: 400, problems: mapped.problems };
    }
    try {
      // The message ID is the body's digest: unique by construction, so no sender is needed in the key.
      const outcome = await deps.handoff({
        source: 'fhir',
        practiceId,
        sender: '',
        authenticatedSender: { id: from.sender.id, channel: from.channel },
        messageId,
        content: rawBody,
        results: mapped.results,
      });
      switch (outcome.kind) {
        case 'accepted':
          deps.logger.info(
            { workflowIds: outcome.workflowIds, duplicate: outcome.duplicate },
            'FHIR results handed off',
          );
          return { kind: 'accepted', workflowIds: outcome.workflowIds, duplicate: outcome.duplicate };
        case 'unknown-practice':
          return refused(422, 'practice', `practice "${outcome.practiceId}" is not configured here`);
        case 'conflict':
          // Cannot happen while the message ID is the body's digest; answered clearly if it ever does.
          return refused(422, '', outcome.reason);
      }
    } catch (err) {
      deps.logger.error({ err }, 'FHIR hand-off failed');
      return { kind: 'unavailable' };
    }
  };
}

function refused(status: 400 | 403 | 422, path: string, message: string): FhirIngestOutcome {
  return { kind: 'refused', status, problems: [{ path, message }] };
}

export type FhirIngest = ReturnType<typeof createFhirIngest>;

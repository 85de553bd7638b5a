import { escapeHtml as escapeText } from '../shared/http';
import type { AthenaFakeStore } from './store';
import type { WebhookDelivery } from './webhook-sender';

/**
 * `GET /` of the athena fake: what labloop wrote into "athena" (patient notes, patient cases, action
 * notes) and the lab documents it holds, so a person running the sandbox can see the loop close.
 * Synthetic data only; everything is escaped.
 */

/** Any cell value as escaped text (undefined shows as empty). */
function escapeHtml(value: string | number | boolean | undefined): string {
  return escapeText(String(value ?? ''));
}

function table(caption: string, headers: string[], rows: (string | number | undefined)[][]): string {
  const head = headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body =
    rows.length === 0
      ? `<tr><td colspan="${headers.length}"><em>none</em></td></tr>`
      : rows.map((row) => `<tr>${row.map((cell) => `<td>${escapeHtml(cell)}</td>`).join('')}</tr>`).join('');
  return `<section><h2>${escapeHtml(caption)}</h2><table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></section>`;
}

export function renderHomePage(store: AthenaFakeStore, deliveries: WebhookDelivery[]): string {
  const labResults = [...store.labResults.values()].map((r) => [
    r.labResultId,
    r.practiceId,
    r.patientId,
    r.description ?? '',
    r.status,
    r.resultstatus ?? '',
    r.reviewed ? 'yes' : 'no',
    r.analytes.map((a) => `${a.analytename} ${a.value ?? ''} ${a.abnormalflag ?? ''}`.trim()).join('; '),
    r.portalPublishedAt?.toISOString() ?? '',
  ]);
  const notes = store.patientNotes.map((n) => [
    n.at,
    n.practiceId,
    n.patientId,
    n.labResultId,
    n.replace ? 'replace' : 'append',
    n.note,
  ]);
  const cases = [...store.patientCases.values()].map((c) => [
    c.patientCaseId,
    c.practiceId,
    c.patientId,
    c.priority,
    c.outboundOnly ? 'yes' : 'no',
    c.subject ?? '',
    c.internalNote ?? '',
    c.assignedTo ?? '',
    c.createdAt.toISOString(),
  ]);
  const actions = store.actionNotes.map((a) => [a.at, a.practiceId, a.labResultId, a.note]);
  const hooks = deliveries.map((d) => [
    d.at,
    d.topic,
    d.eventIds.join(', '),
    d.attempt,
    d.status ?? d.error ?? '',
    d.delivered ? 'yes' : 'no',
  ]);

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>athenahealth fake</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1a1a1a; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.5rem; }
</style>
</head>
<body>
<h1>athenahealth fake (sandbox, synthetic data)</h1>
${table('Patient notes (portal)', ['at', 'practice', 'patient', 'lab result', 'mode', 'note'], notes)}
${table('Patient cases', ['case', 'practice', 'patient', 'priority', 'outbound', 'subject', 'internal note', 'assigned to', 'created'], cases)}
${table('Lab-result action notes', ['at', 'practice', 'lab result', 'note'], actions)}
${table('Lab results', ['id', 'practice', 'patient', 'panel', 'status', 'result status', 'reviewed', 'analytes', 'portal published'], labResults)}
${table('Webhook deliveries', ['at', 'topic', 'event ids', 'attempt', 'status', 'delivered'], hooks)}
</body>
</html>`;
}

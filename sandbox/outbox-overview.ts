import type { Pool } from 'pg';
import { CHANNELS } from '../domain/vocabulary';
import type { AthenaFake } from './fakes/athena';
import { renderOutboxPage, type OutboxSection } from './fakes/shared/outbox-page';
import { sendHtml, sendJson, startFakeHttpServer, type FakeHttpServer } from './fakes/shared/http';
import type { SpruceFake } from './fakes/spruce';
import type { TwilioFake } from './fakes/twilio';

/**
 * The sandbox's one page of everything "sent", by patient and by channel: every send labloop's
 * outbox recorded (SMS, Spruce secure messages, portal notes, call tasks, pages), next to what the
 * fake received for it (the SMS text, the Spruce message, the athena note or patient case). The
 * outbox is the list (it knows the patient and the channel of each send); the fakes supply what went
 * out. Sandbox only: it shows synthetic patients' data, and it is never started in production.
 *
 *  - `GET /`: the page (auto-refresh), one section per patient, rows by channel then time;
 *  - `GET /outbox.json`: the same as JSON `{ patients: [{ practiceId, patientId, sends: [...] }] }`.
 */

export interface SandboxOutboxOptions {
  pool: Pool;
  fakes: { twilio: TwilioFake; spruce: SpruceFake; athena: AthenaFake };
  host?: string;
  port?: number;
}

export interface OverviewSend {
  channel: string;
  step: string;
  template: string;
  status: string;
  deliveryStatus: string | null;
  providerMessageId: string | null;
  createdAt: string;
  /** What the fake received: SMS body, Spruce text, portal note, patient-case subject. */
  content: string;
  workflowId: string;
}

export interface OverviewPatient {
  practiceId: string;
  /** `(staff)` for pages, which belong to no patient. */
  patientId: string;
  sends: OverviewSend[];
}

interface OutboxRow {
  workflow_id: string;
  practice_id: string;
  patient_id: string | null;
  channel: string;
  step: string;
  template: string;
  status: string;
  delivery_status: string | null;
  provider_message_id: string | null;
  created_at: Date;
}

const CHANNEL_ORDER: readonly string[] = CHANNELS;

/** Everything sent, grouped by patient; sends ordered by channel, then time. */
export async function collectOverview(
  options: Pick<SandboxOutboxOptions, 'pool' | 'fakes'>,
): Promise<OverviewPatient[]> {
  const { rows } = await options.pool.query<OutboxRow>(
    `SELECT workflow_id, practice_id, patient_id, channel, step, template, status, delivery_status, provider_message_id, created_at
     FROM outbox ORDER BY created_at, id`,
  );
  const sms = new Map(options.fakes.twilio.messages().map((m) => [m.sid, m.body]));
  const spruce = new Map(options.fakes.spruce.items().map((i) => [i.requestId, i.text]));
  const notes = options.fakes.athena.control.patientNotes();
  const cases = new Map(options.fakes.athena.control.patientCases().map((c) => [c.patientCaseId, c]));

  const contentOf = (row: OutboxRow): string => {
    const id = row.provider_message_id ?? '';
    switch (row.channel) {
      case 'sms':
        return sms.get(id) ?? '';
      case 'spruce':
      case 'page':
        return spruce.get(id) ?? '';
      case 'portal': {
        // `labresult:<id>:v<version>:<step>`: the latest note written on that document.
        const labResultId = /^labresult:([^:]+):/.exec(id)?.[1];
        return notes.filter((n) => n.labResultId === labResultId).at(-1)?.note ?? '';
      }
      case 'call': {
        const patientCase = cases.get(id);
        return patientCase === undefined
          ? id.startsWith('local:')
            ? 'call task (review app only)'
            : ''
          : `patient case ${patientCase.patientCaseId}: ${patientCase.subject ?? ''} (assigned to ${patientCase.assignedTo ?? 'department queue'})`;
      }
      default:
        return '';
    }
  };

  const byPatient = new Map<string, OverviewPatient>();
  for (const row of rows) {
    const patientId = row.patient_id ?? '(staff)';
    const key = `${row.practice_id}|${patientId}`;
    const entry = byPatient.get(key) ?? { practiceId: row.practice_id, patientId, sends: [] };
    entry.sends.push({
      channel: row.channel,
      step: row.step,
      template: row.template,
      status: row.status,
      deliveryStatus: row.delivery_status,
      providerMessageId: row.provider_message_id,
      createdAt: row.created_at.toISOString(),
      content: contentOf(row),
      workflowId: row.workflow_id,
    });
    byPatient.set(key, entry);
  }
  for (const entry of byPatient.values()) {
    entry.sends.sort(
      (a, b) =>
        CHANNEL_ORDER.indexOf(a.channel) - CHANNEL_ORDER.indexOf(b.channel) || a.createdAt.localeCompare(b.createdAt),
    );
  }
  return [...byPatient.values()];
}

export function renderOverview(patients: OverviewPatient[]): string {
  const sections: OutboxSection[] = patients.map((p) => ({
    heading: `Patient ${p.patientId} (practice ${p.practiceId})`,
    columns: ['channel', 'created', 'step', 'template', 'outbox', 'delivery', 'what was sent', 'provider ID'],
    rows: p.sends.map((s) => [
      s.channel,
      s.createdAt,
      s.step,
      s.template,
      s.status,
      s.deliveryStatus ?? '',
      s.content,
      s.providerMessageId ?? '',
    ]),
  }));
  const count = patients.reduce((n, p) => n + p.sends.length, 0);
  return renderOutboxPage({
    title: 'labloop sandbox — everything sent, by patient and channel',
    summary: [`${count} send(s) to ${patients.length} patient(s) and staff`],
    sections,
    emptyText: 'Nothing sent yet.',
  });
}

/** Serve the overview on its own loopback port (listed with the sandbox's other URLs). */
export async function startSandboxOutbox(options: SandboxOutboxOptions): Promise<FakeHttpServer> {
  return startFakeHttpServer(
    'sandbox outbox',
    async (req, res) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (req.method !== 'GET') return sendJson(res, 405, { error: 'GET only' });
      if (path === '/') return sendHtml(res, 200, renderOverview(await collectOverview(options)));
      if (path === '/outbox.json') return sendJson(res, 200, { patients: await collectOverview(options) });
      return sendJson(res, 404, { error: 'not found' });
    },
    { host: options.host, port: options.port },
  );
}

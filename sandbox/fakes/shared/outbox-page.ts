import { escapeHtml } from './http';

/**
 * A plain, readable HTML page listing what a fake "sent", grouped (by recipient, contact, …), that
 * reloads itself so a person watching the sandbox sees new traffic arrive. No scripts, no assets.
 */

export interface OutboxSection {
  heading: string;
  /** Optional one-line note under the heading (e.g. "opted out"). */
  note?: string;
  columns: string[];
  /** Cell text; escaped here. A cell may hold several lines separated by '\n'. */
  rows: string[][];
}

export interface OutboxPage {
  title: string;
  /** Short lines under the title (counts, injected failures in force). */
  summary: string[];
  sections: OutboxSection[];
  refreshSeconds?: number;
  emptyText?: string;
}

/** Auto-refresh period for outbox pages: frequent enough to watch a demo, rare enough to read. */
export const OUTBOX_REFRESH_SECONDS = 3;

function cell(text: string): string {
  return escapeHtml(text).replace(/\n/g, '<br>');
}

export function renderOutboxPage(page: OutboxPage): string {
  const refresh = page.refreshSeconds ?? OUTBOX_REFRESH_SECONDS;
  const sections =
    page.sections.length === 0
      ? `<p class="empty">${escapeHtml(page.emptyText ?? 'Nothing yet.')}</p>`
      : page.sections
          .map(
            (s) => `<section>
<h2>${escapeHtml(s.heading)}</h2>${s.note !== undefined ? `\n<p class="note">${escapeHtml(s.note)}</p>` : ''}
<table>
<thead><tr>${s.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead>
<tbody>
${s.rows.map((r) => `<tr>${r.map((c) => `<td>${cell(c)}</td>`).join('')}</tr>`).join('\n')}
</tbody>
</table>
</section>`,
          )
          .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="${refresh}">
<title>${escapeHtml(page.title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
h2 { font-size: 1.05rem; margin: 1.5rem 0 .25rem; }
.summary { color: #555; margin: 0; }
.note { color: #a40; margin: 0 0 .25rem; }
.empty { color: #777; font-style: italic; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
</style>
</head>
<body>
<h1>${escapeHtml(page.title)}</h1>
${page.summary.map((line) => `<p class="summary">${escapeHtml(line)}</p>`).join('\n')}
${sections}
</body>
</html>
`;
}

import PDFDocument from 'pdfkit';
import { z } from 'zod';
import { flagAcuity, type FlagMapping } from '../../domain/classification';
import type { Acuity, LabResult, Observation } from '../../domain/lab-result';
import { toWinAnsi } from './win-ansi';

/**
 * The result PDF attached to a secure Spruce message: practice, patient, each test with value,
 * units, reference range and flag (abnormal and critical marked in words, not colour alone),
 * comments and the provider's note. Interface results often arrive without a PDF of their own, so
 * this is what the patient reads.
 *
 * Output is deterministic for the same input: the creation date comes from `generatedAt`, the file
 * ID is derived from the (PHI-free) document info, and the standard Helvetica fonts are not
 * embedded, so nothing random or clock-based enters the file. That keeps re-renders of the same
 * result byte-identical (an idempotent activity can re-upload and compare).
 */

export interface RenderResultPdfInput {
  result: LabResult;
  practiceName: string;
  /** The signing provider's note to the patient. */
  providerNote?: string;
  /** ISO timestamp the PDF claims to be generated at (workflow time, not a clock read). */
  generatedAt: string;
  /** The practice's extra flag vocabulary, so the marks agree with the workflow's classification. */
  flagMappings?: FlagMapping;
  /** Deflate the content streams (default true). Tests turn it off to read the text. */
  compress?: boolean;
}

const InputSchema = z.object({
  practiceName: z.string().trim().min(1, 'practiceName is required'),
  generatedAt: z.iso.datetime({ offset: true, message: 'generatedAt must be an ISO-8601 timestamp' }),
  providerNote: z.string().optional(),
  result: z.object({
    resultId: z.string().min(1, 'result.resultId is required'),
    patient: z.object({ id: z.string() }),
    observations: z.array(z.object({ name: z.string(), value: z.string() })),
  }),
});

// Page geometry, in PDF points (1/72 inch) on US Letter (612 x 792).
const MARGIN = 50;
const PAGE_WIDTH = 612;
const CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN; // 512
const FOOTER_HEIGHT = 30;
/** Table columns: test, result, units, reference range, flag — widths add up to CONTENT_WIDTH. */
const COLUMNS = [
  { title: 'Test', width: 172 },
  { title: 'Result', width: 80 },
  { title: 'Units', width: 62 },
  { title: 'Reference range', width: 100 },
  { title: 'Flag', width: 98 },
] as const;
const CELL_PADDING = 3;
const BODY_SIZE = 9.5;

const FONT = { regular: 'Helvetica', bold: 'Helvetica-Bold', italic: 'Helvetica-Oblique' } as const;
const COLOUR = {
  text: '#111111',
  muted: '#555555',
  critical: '#a00000',
  abnormal: '#8a4b00',
  rule: '#999999',
} as const;

const FLAG_LABEL: Record<Acuity, string> = { critical: 'CRITICAL', abnormal: 'ABNORMAL', normal: '' };

type Doc = PDFKit.PDFDocument;

function flagText(observation: Observation, acuity: Acuity): string {
  const raw = observation.flag?.trim() ?? '';
  if (acuity === 'normal') return raw === '' || raw.toUpperCase() === 'N' ? '' : raw;
  return raw === '' ? FLAG_LABEL[acuity] : `${FLAG_LABEL[acuity]} (${raw})`;
}

function formatDate(iso: string | undefined): string {
  if (iso === undefined || iso === '') return 'not given';
  return iso;
}

/** Move to a new page when `height` more points do not fit above the footer. */
function ensureRoom(doc: Doc, height: number, onNewPage?: () => void): void {
  if (doc.y + height > doc.page.height - MARGIN - FOOTER_HEIGHT) {
    doc.addPage();
    onNewPage?.();
  }
}

function sectionHeading(doc: Doc, title: string): void {
  ensureRoom(doc, 40);
  doc.moveDown(0.8).font(FONT.bold).fontSize(11).fillColor(COLOUR.text).text(toWinAnsi(title), MARGIN, doc.y);
  doc.moveDown(0.2);
}

function labelled(doc: Doc, label: string, value: string): void {
  doc
    .font(FONT.bold)
    .fontSize(BODY_SIZE)
    .fillColor(COLOUR.text)
    .text(`${label}: `, MARGIN, doc.y, { continued: true })
    .font(FONT.regular)
    .text(toWinAnsi(value));
}

function tableHeader(doc: Doc): void {
  let x = MARGIN;
  const y = doc.y;
  doc.font(FONT.bold).fontSize(BODY_SIZE).fillColor(COLOUR.text);
  for (const column of COLUMNS) {
    doc.text(column.title, x + CELL_PADDING, y + CELL_PADDING, { width: column.width - 2 * CELL_PADDING });
    x += column.width;
  }
  const bottom = y + doc.currentLineHeight() + 2 * CELL_PADDING;
  doc
    .moveTo(MARGIN, bottom)
    .lineTo(MARGIN + CONTENT_WIDTH, bottom)
    .strokeColor(COLOUR.rule)
    .lineWidth(0.8)
    .stroke();
  doc.x = MARGIN;
  doc.y = bottom + 1;
}

function observationRow(doc: Doc, observation: Observation, acuity: Acuity): void {
  const marked = acuity !== 'normal';
  const cells = [
    observation.name,
    observation.value,
    observation.units ?? '',
    observation.referenceRange ?? '',
    flagText(observation, acuity),
  ].map(toWinAnsi);
  const fonts = [FONT.regular, marked ? FONT.bold : FONT.regular, FONT.regular, FONT.regular, FONT.bold];
  doc.fontSize(BODY_SIZE);
  const heights = cells.map((text, i) =>
    doc
      .font(fonts[i] ?? FONT.regular)
      .heightOfString(text === '' ? ' ' : text, { width: COLUMNS[i].width - 2 * CELL_PADDING }),
  );
  const rowHeight = Math.max(...heights) + 2 * CELL_PADDING;
  ensureRoom(doc, rowHeight, () => tableHeader(doc));

  const y = doc.y;
  let x = MARGIN;
  cells.forEach((text, i) => {
    const colour =
      i === 4 || (i === 1 && marked)
        ? acuity === 'critical'
          ? COLOUR.critical
          : marked
            ? COLOUR.abnormal
            : COLOUR.text
        : COLOUR.text;
    doc
      .font(fonts[i] ?? FONT.regular)
      .fillColor(colour)
      .text(text, x + CELL_PADDING, y + CELL_PADDING, { width: COLUMNS[i].width - 2 * CELL_PADDING });
    x += COLUMNS[i].width;
  });
  doc.x = MARGIN;
  doc.y = y + rowHeight;

  for (const comment of observation.comments ?? []) {
    const text = toWinAnsi(comment);
    const height = doc
      .font(FONT.italic)
      .fontSize(8.5)
      .heightOfString(text, { width: CONTENT_WIDTH - 20 });
    ensureRoom(doc, height + 4, () => tableHeader(doc));
    doc.fillColor(COLOUR.muted).text(text, MARGIN + 15, doc.y, { width: CONTENT_WIDTH - 20 });
    doc.moveDown(0.2);
  }
  doc
    .moveTo(MARGIN, doc.y)
    .lineTo(MARGIN + CONTENT_WIDTH, doc.y)
    .strokeColor('#dddddd')
    .lineWidth(0.4)
    .stroke();
  doc.x = MARGIN;
}

function paragraph(doc: Doc, text: string): void {
  const clean = toWinAnsi(text);
  doc.font(FONT.regular).fontSize(BODY_SIZE).fillColor(COLOUR.text);
  ensureRoom(doc, Math.min(doc.heightOfString(clean, { width: CONTENT_WIDTH }), 200));
  doc.text(clean, MARGIN, doc.y, { width: CONTENT_WIDTH });
}

function footers(doc: Doc, generatedAt: string): void {
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i++) {
    doc.switchToPage(i);
    const y = doc.page.height - MARGIN - FOOTER_HEIGHT + 10;
    // Writing in the bottom margin must not trigger pdfkit's automatic page break.
    const bottom = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    doc
      .font(FONT.regular)
      .fontSize(7.5)
      .fillColor(COLOUR.muted)
      .text(
        `Generated ${generatedAt} by labloop. Confidential health information. Page ${i - range.start + 1} of ${range.count}`,
        MARGIN,
        y,
        { width: CONTENT_WIDTH, align: 'center', lineBreak: false },
      );
    doc.page.margins.bottom = bottom;
  }
}

/** Render a lab result as a PDF. Throws an Error naming the field when the input is unusable. */
export async function renderResultPdf(input: RenderResultPdfInput): Promise<Buffer> {
  const parsed = InputSchema.safeParse(input);
  if (!parsed.success) {
    throw new Error(`Invalid result PDF input: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  const { result, practiceName, providerNote, generatedAt } = input;
  const mapping = input.flagMappings ?? {};

  const doc = new PDFDocument({
    size: 'LETTER',
    margin: MARGIN,
    bufferPages: true,
    compress: input.compress ?? true,
    // Document info is visible to any PDF reader's "properties": keep PHI out of it.
    info: {
      Title: 'Laboratory result',
      Author: toWinAnsi(practiceName),
      Creator: 'labloop',
      Producer: 'labloop',
      CreationDate: new Date(generatedAt),
    },
  });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (chunk: Buffer) => chunks.push(chunk));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });

  doc.font(FONT.bold).fontSize(16).fillColor(COLOUR.text).text(toWinAnsi(practiceName), MARGIN, MARGIN);
  doc.font(FONT.regular).fontSize(11).fillColor(COLOUR.muted).text('Laboratory result');
  doc.moveDown(0.6);

  const patient = result.patient;
  const name = [patient.firstName, patient.lastName].filter((p) => p !== undefined && p !== '').join(' ');
  labelled(doc, 'Patient', name === '' ? 'not given' : name);
  labelled(doc, 'Date of birth', formatDate(patient.birthDate));
  if (result.panelName !== undefined) labelled(doc, 'Test panel', result.panelName);
  labelled(doc, 'Status', result.status === 'corrected' ? 'corrected (replaces an earlier report)' : result.status);
  if (result.reportedAt !== undefined) labelled(doc, 'Reported', result.reportedAt);
  if (result.orderingProvider?.name !== undefined) labelled(doc, 'Ordered by', result.orderingProvider.name);

  sectionHeading(doc, 'Results');
  if (result.observations.length === 0) {
    paragraph(doc, 'No individual test values were reported.');
  } else {
    tableHeader(doc);
    const acuities = result.observations.map((o) => flagAcuity(o.flag, mapping, result.source));
    result.observations.forEach((o, i) => observationRow(doc, o, acuities[i] ?? 'normal'));
    if (acuities.some((a) => a !== 'normal')) {
      doc.moveDown(0.4);
      doc
        .font(FONT.italic)
        .fontSize(8.5)
        .fillColor(COLOUR.muted)
        .text(
          'ABNORMAL: outside the reference range. CRITICAL: a value your care team acts on urgently. ' +
            'Your provider has reviewed these results.',
          MARGIN,
          doc.y,
          { width: CONTENT_WIDTH },
        );
    }
  }

  if (result.comments !== undefined && result.comments.length > 0) {
    sectionHeading(doc, 'Comments from the laboratory');
    for (const comment of result.comments) paragraph(doc, comment);
  }

  if (providerNote !== undefined && providerNote.trim() !== '') {
    sectionHeading(doc, 'Note from your provider');
    paragraph(doc, providerNote);
  }

  footers(doc, generatedAt);
  doc.end();
  return done;
}

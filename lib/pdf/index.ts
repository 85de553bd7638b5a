export { renderResultPdf, type RenderResultPdfInput } from './result-pdf';
export { toWinAnsi } from './win-ansi';

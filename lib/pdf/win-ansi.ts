/**
 * pdfkit's built-in (non-embedded) Helvetica writes text in WinAnsiEncoding (Windows-1252), and
 * silently writes garbage bytes for anything outside it. Lab data does contain a few such
 * characters (≥, ≤, ≠ in reference ranges), so they are spelled out, and whatever is left that the
 * encoding cannot show becomes '?' instead of a wrong glyph. Embedding a Unicode TTF would lift this
 * limit at the cost of shipping a font file.
 */

/** Windows-1252 characters in 0x80–0x9F (the rest of 0x20–0xFF is Latin-1 itself). */
const CP1252_EXTRAS = new Set('€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ');

const SPELLED_OUT: Record<string, string> = {
  '≥': '>=',
  '≤': '<=',
  '≠': '!=',
  '→': '->',
  '←': '<-',
  '−': '-', // minus sign
  '‐': '-', // hyphen
  '‑': '-', // non-breaking hyphen
  '\u2009': ' ', // thin space
  '\u202f': ' ', // narrow no-break space
  '\u200b': '', // zero-width space
  '\u00ad': '', // soft hyphen
};

function representable(ch: string): boolean {
  const code = ch.codePointAt(0) ?? 0;
  return ch === '\n' || (code >= 0x20 && code <= 0x7e) || (code >= 0xa0 && code <= 0xff) || CP1252_EXTRAS.has(ch);
}

/** Text that Helvetica/WinAnsi can show faithfully. */
export function toWinAnsi(text: string): string {
  let out = '';
  for (const ch of text.normalize('NFC').replace(/\r\n?/g, '\n').replace(/\t/g, ' ')) {
    if (representable(ch)) out += ch;
    else out += SPELLED_OUT[ch] ?? '?';
  }
  return out;
}

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { chromiumPath, PROJECT_ROOT } from '../../lib/tools';

/**
 * Real headless Chromium for the review-app tests: Debian's chromium driven by playwright-core (no
 * browser download), a fresh profile per run, no background traffic. Screenshots go to
 * test-artifacts/ (git-ignored) so a reviewer can look at what the test saw.
 */

export const VIEWPORTS = {
  laptop: { width: 1366, height: 768 },
  tablet: { width: 820, height: 1180 },
} as const;
export type ViewportName = keyof typeof VIEWPORTS;

export const ARTIFACTS_DIR = path.join(PROJECT_ROOT, 'test-artifacts', 'review-app');

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export interface TestBrowser {
  /**
   * A new, isolated browser context (its own cookies and storage) at one of the test viewports;
   * `javaScript: false` checks that pages work without htmx (progressive enhancement).
   */
  newContext(viewport?: ViewportName, options?: { javaScript?: boolean }): Promise<BrowserContext>;
  close(): Promise<void>;
}

/**
 * Launches Chromium, or fails with what to install: a browser test never skips silently. Playwright
 * gives each launch a fresh throwaway profile directory and each context its own cookies and storage.
 */
export async function launchBrowser(): Promise<TestBrowser> {
  const executablePath = chromiumPath();
  if (executablePath === undefined) {
    throw new Error(
      'Chromium not found: install Debian\'s "chromium" package (apt-get install chromium) or set CHROMIUM_PATH',
    );
  }
  const browser: Browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
  return {
    newContext: (viewport: ViewportName = 'laptop', options = {}) =>
      browser.newContext({ viewport: VIEWPORTS[viewport], javaScriptEnabled: options.javaScript ?? true }),
    close: () => browser.close(),
  };
}

/** Full-page screenshot to test-artifacts/review-app/<name>.png; returns the path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Every visible form control, button and link on the page has an accessible name (label, aria-label,
 * aria-labelledby or text). Returns descriptions of the ones that do not (empty when all do).
 */
export async function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(`(() => {
    const problems = [];
    const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
    const text = (el) => (el.textContent || '').replace(/\\s+/g, ' ').trim();
    const byIds = (ids) => ids.split(/\\s+/).map((id) => document.getElementById(id)).filter(Boolean).map(text).join(' ').trim();
    for (const el of document.querySelectorAll('input, select, textarea, button, a[href]')) {
      if (el.type === 'hidden' || !visible(el)) continue;
      const aria = (el.getAttribute('aria-label') || '').trim();
      const labelledBy = el.getAttribute('aria-labelledby');
      const fromLabels = el.labels ? Array.from(el.labels).map(text).join(' ').trim() : '';
      const own = el.tagName === 'BUTTON' || el.tagName === 'A' ? text(el) : '';
      const name = aria || (labelledBy ? byIds(labelledBy) : '') || fromLabels || own;
      if (!name) problems.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.name ? '[name=' + el.name + ']' : ''));
    }
    return problems;
  })()`);
}

/**
 * Horizontal overflow at the page's current viewport: how far the document is wider than the
 * window (0 when it fits, i.e. document.documentElement.scrollWidth <= innerWidth), and the widest
 * elements that stick out past the right edge, to say what to fix.
 */
export async function horizontalOverflow(page: Page): Promise<{ excess: number; culprits: string[] }> {
  return page.evaluate(`(() => {
    const width = window.innerWidth;
    const excess = Math.max(0, document.documentElement.scrollWidth - width);
    const culprits = [];
    if (excess > 0) {
      for (const el of document.body.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.right > width + 1 && r.width > 0)
          culprits.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().replace(/\\s+/g, '.') : '') + ' right=' + Math.round(r.right));
      }
    }
    return { excess, culprits: culprits.slice(0, 10) };
  })()`);
}

/** Console errors and uncaught page errors (a CSP violation shows up here), collected as they happen. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  return errors;
}

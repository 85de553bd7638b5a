import type { FastifyReply, FastifyRequest } from 'fastify';
import { issueCsrfToken } from '../auth/csrf';
import { can, ROLE_LABELS } from '../auth/roles';
import type { SignedInUser } from '../auth/session';

/** The frame every page shares: who is signed in, where they can go, the CSRF token for its forms. */
export interface PageFrame {
  title: string;
  csrfToken: string;
  user?: { name: string; roleLabel: string; practiceName: string };
  nav: { href: string; label: string; current: boolean }[];
}

export type Notice = { kind: 'success' | 'info' | 'warning' | 'error'; text: string };

function navFor(user: SignedInUser | undefined, currentPath: string): PageFrame['nav'] {
  if (user === undefined) return [];
  const items: { href: string; label: string }[] = [{ href: '/review/queue', label: 'Review queue' }];
  if (can(user.role, 'view-call-tasks')) items.push({ href: '/review/calls', label: 'Call tasks' });
  if (can(user.role, 'export-audit')) items.push({ href: '/review/audit', label: 'Audit export' });
  return items.map((item) => ({ ...item, current: currentPath.startsWith(item.href) }));
}

export function pageFrame(request: FastifyRequest, reply: FastifyReply, title: string): PageFrame {
  const state = request.reviewSession;
  const user = request.reviewUser ?? (state?.kind === 'signed-in' ? state.user : undefined);
  return {
    title,
    csrfToken: issueCsrfToken(request, reply),
    ...(user === undefined
      ? {}
      : {
          user: { name: user.staff.name, roleLabel: ROLE_LABELS[user.role], practiceName: user.practice.practiceName },
        }),
    nav: navFor(user, request.url.split('?')[0] ?? ''),
  };
}

/**
 * Render a full page (template + shared layout). Pages carry PHI, so nothing may cache them: not the
 * browser's back-forward history on a shared PC, not a proxy.
 */
export async function renderPage(
  request: FastifyRequest,
  reply: FastifyReply,
  template: string,
  title: string,
  data: Record<string, unknown>,
  status = 200,
): Promise<FastifyReply> {
  const frame = pageFrame(request, reply, title);
  const html = await reply.viewAsync(template, { ...data, frame });
  return reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(html);
}

/**
 * Render an htmx fragment (no layout). It gets the same frame as a page, so forms inside it carry a
 * CSRF token for the no-JavaScript path as well.
 */
export async function renderFragment(
  request: FastifyRequest,
  reply: FastifyReply,
  template: string,
  data: Record<string, unknown>,
  status = 200,
): Promise<FastifyReply> {
  const frame = pageFrame(request, reply, '');
  const html = await reply.viewAsync(template, { ...data, frame });
  return reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(html);
}

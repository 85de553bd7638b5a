/**
 * A URL under PUBLIC_BASE_URL, keeping the base's own path: behind a proxy that serves labloop at
 * `https://example.org/labloop`, the route `/webhooks/twilio/status` is public at
 * `https://example.org/labloop/webhooks/twilio/status`. `new URL(path, base)` would drop `/labloop`
 * (an absolute path replaces the base's path), which breaks every signature computed over the URL
 * the vendor called (X-Twilio-Signature) and every callback URL we hand out.
 *
 * @param base PUBLIC_BASE_URL, with or without a trailing slash
 * @param pathAndQuery the route as the app sees it (`request.url`: path and query, starting with `/`)
 */
export function publicUrl(base: string, pathAndQuery: string): string {
  const root = new URL(base);
  const prefix = root.pathname.replace(/\/+$/, '');
  const suffix = pathAndQuery.startsWith('/') ? pathAndQuery : `/${pathAndQuery}`;
  return `${root.origin}${prefix}${suffix}`;
}

/** The status URL handed out at intake for one result (answered by GET /v1/results/:workflowId). */
export function resultStatusUrl(base: string, workflowId: string): string {
  return publicUrl(base, `/v1/results/${encodeURIComponent(workflowId)}`);
}

/** A result's page in the review app, from the app's public URL (`PUBLIC_BASE_URL/review`). */
export function reviewResultUrl(reviewBaseUrl: string, workflowId: string): string {
  return `${reviewBaseUrl.replace(/\/+$/, '')}/results/${encodeURIComponent(workflowId)}`;
}

import { createHash, createHmac } from 'node:crypto';

/**
 * AWS Signature Version 4 for S3 requests (docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html),
 * header-based, with the payload's SHA-256 in x-amz-content-sha256. Small on purpose: the anchor
 * store makes three kinds of request (PUT, GET, list), so no SDK is needed.
 */
export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  service?: string;
}

export const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** RFC 3986 encoding as SigV4 wants it (unreserved characters only are left alone). */
export function uriEncode(value: string, encodeSlash = true): string {
  return [...Buffer.from(value, 'utf8')]
    .map((b) => {
      const c = String.fromCharCode(b);
      if (/[A-Za-z0-9\-._~]/.test(c)) return c;
      if (c === '/' && !encodeSlash) return c;
      return `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

/**
 * The Authorization header for a request. `headers` must hold every header that is sent and signed
 * (host, x-amz-date, x-amz-content-sha256 and the rest), lower-case names.
 */
export function signV4(
  request: { method: string; url: URL; headers: Record<string, string>; payloadHash: string },
  credentials: SigV4Credentials,
): string {
  const service = credentials.service ?? 's3';
  const amzDate = request.headers['x-amz-date'];
  if (amzDate === undefined) throw new Error('x-amz-date must be set before signing');
  const day = amzDate.slice(0, 8);
  const names = Object.keys(request.headers)
    .map((n) => n.toLowerCase())
    .sort();
  const canonicalHeaders = names
    .map((n) => `${n}:${(request.headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const signedHeaders = names.join(';');
  const query = [...request.url.searchParams.entries()]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : 1) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const path = uriEncode(decodeURIComponent(request.url.pathname), false);
  const canonicalRequest = [request.method, path, query, canonicalHeaders, signedHeaders, request.payloadHash].join(
    '\n',
  );
  const scope = `${day}/${credentials.region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = hmac(
    hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, day), credentials.region), service),
    'aws4_request',
  );
  const signature = createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
  return `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
}

/** 20130524T000000Z */
export function amzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

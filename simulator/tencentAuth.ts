// How the TencentCloud API 3.0 gateway checks a TC3-HMAC-SHA256 signature,
// written from the vendor's "Signature v3" document
// (https://www.tencentcloud.com/document/product/382/40467), independently of
// our client-side signer on purpose.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface ParsedAuthorization {
  secretId: string;
  date: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

const AUTH =
  /^TC3-HMAC-SHA256 Credential=([^/\s]+)\/(\d{4}-\d{2}-\d{2})\/([a-z0-9]+)\/tc3_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

export function parseAuthorization(header: string | undefined): ParsedAuthorization | undefined {
  const m = AUTH.exec((header ?? '').trim());
  if (!m) return undefined;
  return {
    secretId: m[1] ?? '',
    date: m[2] ?? '',
    service: m[3] ?? '',
    signedHeaders: (m[4] ?? '').split(';'),
    signature: m[5] ?? '',
  };
}

const hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const mac = (key: Buffer | string, data: string): Buffer =>
  createHmac('sha256', key).update(data, 'utf8').digest();

export interface Tc3Check {
  method: string;
  path: string;
  query: string;
  /** Lower-case header name -> value, as received. */
  headers: Record<string, string | undefined>;
  rawBody: Buffer;
  timestamp: string;
  auth: ParsedAuthorization;
  secretKey: string;
}

export function expectedTc3Signature(c: Tc3Check): string {
  const canonicalHeaders = c.auth.signedHeaders
    .map((name) => name + ':' + (c.headers[name] ?? '').trim().toLowerCase() + '\n')
    .join('');
  const canonicalRequest = [
    c.method.toUpperCase(),
    c.path,
    c.query,
    canonicalHeaders,
    c.auth.signedHeaders.join(';'),
    hex(c.rawBody),
  ].join('\n');
  const scope = c.auth.date + '/' + c.auth.service + '/tc3_request';
  const toSign = ['TC3-HMAC-SHA256', c.timestamp, scope, hex(canonicalRequest)].join('\n');
  const kDate = mac('TC3' + c.secretKey, c.auth.date);
  const kService = mac(kDate, c.auth.service);
  const kSigning = mac(kService, 'tc3_request');
  return createHmac('sha256', kSigning).update(toSign, 'utf8').digest('hex');
}

export function tc3SignatureMatches(c: Tc3Check): boolean {
  const given = Buffer.from(c.auth.signature, 'utf8');
  const wanted = Buffer.from(expectedTc3Signature(c), 'utf8');
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

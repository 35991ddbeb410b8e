// How the Aliyun RPC gateway checks a request signature (SignatureVersion 1.0,
// HMAC-SHA1), written from the vendor's "签名机制" document
// (https://help.aliyun.com/document_detail/28839.html), independently of our
// client-side signer on purpose: a shared bug would otherwise go unnoticed.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** How each byte is written: unreserved characters as they are, the rest as %XY. */
const BYTE_TEXT: string[] = Array.from({ length: 256 }, (_, byte) => {
  const c = String.fromCharCode(byte);
  return /[A-Za-z0-9\-_.~]/.test(c) ? c : '%' + byte.toString(16).toUpperCase().padStart(2, '0');
});

/** RFC 3986 unreserved characters stay; everything else is %XY of its UTF-8 bytes. */
export function rfc3986(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) out += BYTE_TEXT[byte]!;
  return out;
}

export function expectedAliyunSignature(
  httpMethod: string,
  params: Record<string, string>,
  secret: string,
): string {
  const names = Object.keys(params).filter((n) => n !== 'Signature');
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const canonical = names.map((n) => rfc3986(n) + '=' + rfc3986(params[n] ?? '')).join('&');
  const toSign = httpMethod.toUpperCase() + '&' + rfc3986('/') + '&' + rfc3986(canonical);
  return createHmac('sha1', secret + '&')
    .update(Buffer.from(toSign, 'utf8'))
    .digest('base64');
}

export function aliyunSignatureMatches(
  httpMethod: string,
  params: Record<string, string>,
  secret: string,
): boolean {
  const given = Buffer.from(params.Signature ?? '', 'utf8');
  const wanted = Buffer.from(expectedAliyunSignature(httpMethod, params, secret), 'utf8');
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

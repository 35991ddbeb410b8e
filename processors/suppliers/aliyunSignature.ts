// Aliyun RPC-style request signature (SignatureMethod=HMAC-SHA1, SignatureVersion=1.0).
// https://help.aliyun.com/document_detail/28839.html (签名机制) /
// https://help.aliyun.com/en/document_detail/145075.html (Signature mechanism):
//   CanonicalizedQueryString = sorted "percentEncode(k)=percentEncode(v)" joined by "&" (Signature excluded)
//   StringToSign = HTTPMethod + "&" + percentEncode("/") + "&" + percentEncode(CanonicalizedQueryString)
//   Signature    = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))
import { createHmac } from 'node:crypto';

/**
 * RFC 3986 encoding as the doc specifies: A-Z a-z 0-9 - _ . ~ stay, space is
 * %20 (not +), * is %2A, ~ is not encoded.
 */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

/** Parameters sorted by name (code-unit order, as the doc's "dictionary order"). */
export function canonicalizedQueryString(params: Record<string, string>): string {
  return Object.keys(params)
    .filter((k) => k !== 'Signature')
    .sort()
    .map((k) => `${percentEncode(k)}=${percentEncode(params[k] ?? '')}`)
    .join('&');
}

export function stringToSign(method: string, params: Record<string, string>): string {
  return `${method.toUpperCase()}&${percentEncode('/')}&${percentEncode(canonicalizedQueryString(params))}`;
}

export function aliyunSignature(
  method: string,
  params: Record<string, string>,
  accessKeySecret: string,
): string {
  return createHmac('sha1', `${accessKeySecret}&`)
    .update(stringToSign(method, params), 'utf8')
    .digest('base64');
}

/** The signed request body (or query): canonical string plus the Signature parameter. */
export function signedQuery(
  method: string,
  params: Record<string, string>,
  accessKeySecret: string,
): string {
  const signature = aliyunSignature(method, params, accessKeySecret);
  return `${canonicalizedQueryString(params)}&Signature=${percentEncode(signature)}`;
}

/** ISO 8601 UTC without milliseconds, as the common parameter Timestamp expects. */
export function aliyunTimestamp(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

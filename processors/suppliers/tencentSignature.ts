// TencentCloud API 3.0 signature v3 (TC3-HMAC-SHA256).
// https://www.tencentcloud.com/document/product/382/40467 (SMS, "Signature v3"):
//   CanonicalRequest = Method \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n SignedHeaders \n hex(SHA256(payload))
//   StringToSign     = "TC3-HMAC-SHA256" \n Timestamp \n Date/service/tc3_request \n hex(SHA256(CanonicalRequest))
//   SecretDate = HMAC("TC3" + SecretKey, Date); SecretService = HMAC(SecretDate, service);
//   SecretSigning = HMAC(SecretService, "tc3_request"); Signature = hex(HMAC(SecretSigning, StringToSign))
//   Authorization = TC3-HMAC-SHA256 Credential=SecretId/Date/service/tc3_request, SignedHeaders=..., Signature=...
import { createHash, createHmac } from 'node:crypto';

export const TC3_ALGORITHM = 'TC3-HMAC-SHA256';

export interface Tc3Input {
  secretId: string;
  secretKey: string;
  service: string;
  method: string;
  /** Path, "/" for the public endpoints. */
  canonicalUri: string;
  canonicalQueryString: string;
  /** Headers to sign; names are lower-cased and sorted here. */
  headers: Record<string, string>;
  payload: string;
  /** Unix seconds. */
  timestamp: number;
}

export interface Tc3Result {
  date: string;
  canonicalRequest: string;
  stringToSign: string;
  signedHeaders: string;
  signature: string;
  authorization: string;
}

export function sha256Hex(data: string): string {
  return createHash('sha256').update(data, 'utf8').digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** UTC date of the timestamp, yyyy-mm-dd. */
export function tc3Date(timestamp: number): string {
  return new Date(timestamp * 1000).toISOString().slice(0, 10);
}

export function tc3Sign(input: Tc3Input): Tc3Result {
  const entries = Object.entries(input.headers)
    .map(([k, v]) => [k.toLowerCase(), v.trim().toLowerCase()] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const canonicalHeaders = entries.map(([k, v]) => `${k}:${v}\n`).join('');
  const signedHeaders = entries.map(([k]) => k).join(';');
  const canonicalRequest = [
    input.method.toUpperCase(),
    input.canonicalUri,
    input.canonicalQueryString,
    canonicalHeaders,
    signedHeaders,
    sha256Hex(input.payload),
  ].join('\n');
  const date = tc3Date(input.timestamp);
  const scope = `${date}/${input.service}/tc3_request`;
  const stringToSign = [
    TC3_ALGORITHM,
    String(input.timestamp),
    scope,
    sha256Hex(canonicalRequest),
  ].join('\n');
  const secretDate = hmac(`TC3${input.secretKey}`, date);
  const secretService = hmac(secretDate, input.service);
  const secretSigning = hmac(secretService, 'tc3_request');
  const signature = createHmac('sha256', secretSigning).update(stringToSign, 'utf8').digest('hex');
  const authorization = `${TC3_ALGORITHM} Credential=${input.secretId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return { date, canonicalRequest, stringToSign, signedHeaders, signature, authorization };
}

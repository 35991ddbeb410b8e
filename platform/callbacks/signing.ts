// The signature on every callback, as Stripe and Svix sign their webhooks:
//   Streaming-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">
// under the endpoint's secret. A receiver recomputes it over the raw bytes it
// got, compares in constant time, and refuses a t too far from its clock
// (a replay). docs/callbacks.md shows it in Node and Python.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { keyedHash, open, seal } from '../crypto/index.ts';

export const SIGNATURE_HEADER = 'Streaming-Signature';
/** How far a receiver should accept t from its clock (the docs' default). */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export function signatureOf(secret: string, t: number, rawBody: string): string {
  return createHmac('sha256', secret).update(`${t}.${rawBody}`, 'utf8').digest('hex');
}

/** The header value for a body sent now (or at `nowMs`). */
export function signatureHeader(secret: string, rawBody: string, nowMs = Date.now()): string {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${signatureOf(secret, t, rawBody)}`;
}

/** What a receiver does; used by the tests' receivers. */
export function verifySignature(
  header: string | undefined,
  rawBody: string,
  secret: string,
  options: { toleranceSeconds?: number; nowMs?: number } = {},
): boolean {
  if (!header) return false;
  const parts = header.split(',').map((p) => p.trim().split('=', 2) as [string, string]);
  const t = Number(parts.find(([k]) => k === 't')?.[1]);
  if (!Number.isInteger(t)) return false;
  const now = Math.floor((options.nowMs ?? Date.now()) / 1000);
  if (Math.abs(now - t) > (options.toleranceSeconds ?? SIGNATURE_TOLERANCE_SECONDS)) return false;
  const expected = Buffer.from(signatureOf(secret, t, rawBody), 'hex');
  return parts
    .filter(([k]) => k === 'v1')
    .some(([, v]) => {
      const given = Buffer.from(v ?? '', 'hex');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
}

/** A new endpoint secret: `whsec_` and 32 random bytes, base64url. */
export function newCallbackSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/** Secrets live in events sealed under the platform key, bound to their endpoint. */
export function sealCallbackSecret(key: Buffer, callbackId: string, secret: string): string {
  return seal(key, secret, `callback:${callbackId}`);
}

export function openCallbackSecret(key: Buffer, callbackId: string, sealed: string): string {
  return open(key, sealed, `callback:${callbackId}`);
}

/**
 * The secret that signs the callbacks of a send's own `statusCallback` URL:
 * one per tenant, derived from the platform key (nothing stored), shown by
 * GET /v1/callbacks/signing-secret.
 */
export function messageCallbackSecret(key: Buffer, tenantId: string): string {
  return `whsec_${Buffer.from(keyedHash(key, `status-callback:${tenantId}`), 'hex').toString('base64url')}`;
}

// What an audit record may show of a payload: no sealed text, no code in
// params, no password or key hashes.
const MASK = '******';

export function maskPayload(type: string, data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...data };
  delete out.sealedContent;
  delete out.sealedParams;
  delete out.passwordHash;
  delete out.keyHash;
  if (typeof out.codeHash === 'string') out.codeHash = '[redacted]';
  const params = out.params;
  if (params && typeof params === 'object') {
    const masked: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(params as Record<string, unknown>)) {
      masked[k] = out.kind === 'verification' || k === 'code' ? MASK : v;
    }
    out.params = masked;
  }
  if (
    type === 'sms.accepted.v1' &&
    out.kind === 'verification' &&
    typeof out.content !== 'string'
  ) {
    delete out.content;
  }
  return out;
}

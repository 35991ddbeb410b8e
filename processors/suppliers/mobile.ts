// Phone number forms the vendors expect or send back.

const E164 = /^\+[1-9]\d{5,14}$/;

export function isE164(mobile: string): boolean {
  return E164.test(mobile);
}

/**
 * Aliyun SendSms PhoneNumbers / QuerySendDetails PhoneNumber: mainland numbers
 * as the 11-digit national number; international as country code + number
 * with no prefix (the doc's example: 852000012****).
 */
export function toAliyunNumber(e164: string): string {
  const digits = e164.slice(1);
  return digits.startsWith('86') && digits.length === 13 ? digits.slice(2) : digits;
}

/**
 * A number as a vendor pushes it back (mainland 11-digit, 86-prefixed,
 * 0086-prefixed, +-prefixed or country code + number) to E.164.
 */
export function vendorNumberToE164(raw: string, nationCode?: string): string {
  const s = raw.trim().replace(/[\s-]/g, '');
  if (s.startsWith('+')) return s;
  if (s.startsWith('00')) return `+${s.slice(2)}`;
  if (nationCode !== undefined && nationCode !== '') {
    return `+${nationCode.replace(/^\+/, '')}${s}`;
  }
  if (/^1\d{10}$/.test(s)) return `+86${s}`;
  return `+${s}`;
}

// SMS segment counting per GSM 03.38 / 3GPP TS 23.040.
export type Encoding = 'GSM-7' | 'UCS-2';

export type SegmentCount = {
  segments: number;
  encoding: Encoding;
  // septets for GSM-7 (extension characters count 2), UTF-16 code units for UCS-2
  units: number;
};

// GSM 03.38 default alphabet (ESC itself excluded: it only introduces the extension table).
const gsmBasic = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
// Extension table: sent as ESC + char, so 2 septets that must stay in one part.
const gsmExtension = new Set('\f^{}\\[~]|€');

const limits = {
  'GSM-7': { single: 160, perPart: 153 },
  'UCS-2': { single: 70, perPart: 67 },
} as const;

export function isGsm7(text: string): boolean {
  for (const ch of text) {
    if (!gsmBasic.has(ch) && !gsmExtension.has(ch)) return false;
  }
  return true;
}

function width(ch: string, encoding: Encoding): number {
  if (encoding === 'GSM-7') return gsmExtension.has(ch) ? 2 : 1;
  return ch.length; // a surrogate pair is 2 code units
}

/**
 * Splits text into the parts a concatenated SMS is sent as, packing greedily
 * and never splitting an extension character or a surrogate pair.
 */
export function splitSegments(text: string): {
  encoding: Encoding;
  units: number;
  parts: string[];
} {
  const encoding: Encoding = isGsm7(text) ? 'GSM-7' : 'UCS-2';
  const chars = [...text]; // code points: a surrogate pair stays whole
  const units = chars.reduce((sum, ch) => sum + width(ch, encoding), 0);
  if (units <= limits[encoding].single) return { encoding, units, parts: [text] };
  const parts: string[] = [];
  let current = '';
  let used = 0;
  for (const ch of chars) {
    const w = width(ch, encoding);
    if (used + w > limits[encoding].perPart) {
      parts.push(current);
      current = '';
      used = 0;
    }
    current += ch;
    used += w;
  }
  parts.push(current);
  return { encoding, units, parts };
}

/** Segments the text is billed as. An empty text is still one message on the wire. */
export function countSegments(text: string): SegmentCount {
  const { encoding, units, parts } = splitSegments(text);
  return { segments: parts.length, encoding, units };
}

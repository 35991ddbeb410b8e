// STOP-style keywords in inbound SMS that opt a number out of marketing.
export const optOutKeywords = ['STOP', 'TD', 'T', '退订', 'UNSUBSCRIBE'] as const;
export type OptOutKeyword = (typeof optOutKeywords)[number];

// NFKC folds full-width letters and the ideographic space; trailing
// punctuation ("STOP!", "退订。") is tolerated.
function canonical(text: string): string {
  return text
    .normalize('NFKC')
    .trim()
    .replace(/[\s.!。！,，;；~]+$/u, '')
    .trim()
    .toUpperCase();
}

/** The keyword the whole text is, or undefined. */
export function optOutKeyword(text: string): OptOutKeyword | undefined {
  if (typeof text !== 'string') return undefined;
  const c = canonical(text);
  return optOutKeywords.find((k) => k === c);
}

export function isOptOutKeyword(text: string): boolean {
  return optOutKeyword(text) !== undefined;
}

// Replies that opt a number back in to the tenant's marketing.
export const optInKeywords = ['START', '订阅', 'UNSTOP'] as const;
export type OptInKeyword = (typeof optInKeywords)[number];

/** The opt-in keyword the whole text is, or undefined. */
export function optInKeyword(text: string): OptInKeyword | undefined {
  if (typeof text !== 'string') return undefined;
  const c = canonical(text);
  return optInKeywords.find((k) => k === c);
}

// What production refuses in a secret key: a development default, by the bytes
// it stands for rather than by its spelling (upper-case hex, base64 or
// url-safe base64 of the same 32 bytes is the same key), and a value with too
// little entropy to be a key (a repeated or counting pattern, a passphrase of
// words, text written out in hex).
import { decodeKey32, type SecretKind } from './definitions.ts';

export type { SecretKind };

/**
 * The byte strings a value may be used as: its UTF-8 text, and, when it reads
 * as 32 bytes of hex or base64, those bytes. Two values that share one are the
 * same key to somebody.
 */
export function secretForms(raw: string): Buffer[] {
  const forms: Buffer[] = [Buffer.from(raw.trim(), 'utf8')];
  const key = decodeKey32(raw.trim());
  if (key) forms.push(key);
  return forms;
}

/** A set of byte strings, compared by content. */
export class ByteSet {
  private readonly items = new Set<string>();
  constructor(values: Iterable<Buffer> = []) {
    for (const v of values) this.add(v);
  }
  add(value: Buffer): void {
    this.items.add(value.toString('base64'));
  }
  has(value: Buffer): boolean {
    return this.items.has(value.toString('base64'));
  }
  hasAny(values: readonly Buffer[]): boolean {
    return values.some((v) => this.has(v));
  }
}

const distinct = (values: readonly number[]): number => new Set(values).size;

/** Differences between neighbours (mod 256 for bytes): constant for a counting sequence. */
function deltas(values: readonly number[], modulo: number | undefined): number[] {
  const out: number[] = [];
  for (let i = 1; i < values.length; i++) {
    const d = values[i]! - values[i - 1]!;
    out.push(modulo === undefined ? d : (d + modulo) % modulo);
  }
  return out;
}

/** The shortest period p ≤ length/2 with values[i] = values[i+p] throughout, if any. */
function period(values: readonly number[]): number | undefined {
  for (let p = 1; p <= values.length / 2; p++) {
    let repeats = true;
    for (let i = 0; i + p < values.length && repeats; i++) repeats = values[i] === values[i + p];
    if (repeats) return p;
  }
  return undefined;
}

/**
 * Why a value is too predictable to be a key, or undefined. Each rule is one
 * that 32 random bytes (or a random hex or base64 text) fail with a chance
 * below 1e-12, so a generated key never trips it:
 * - few distinct values (under 16 of 32 bytes; under 12 characters of a text),
 * - few distinct steps between neighbours (a counting or stepping sequence),
 * - a block repeated over and over,
 * - key bytes that are all printable ASCII (a passphrase written out in hex),
 * - a text of only lower-case words and separators (a passphrase).
 */
export function lowEntropyReason(raw: string, kind: SecretKind): string | undefined {
  const text = raw.trim();
  const key = kind === 'key32' ? decodeKey32(text) : undefined;
  const values = key ? [...key] : [...text].map((c) => c.codePointAt(0)!);
  const least = key ? 16 : 12;
  if (distinct(values) < least)
    return `has fewer than ${least} distinct ${key ? 'bytes' : 'characters'}`;
  // A repeated block is named before the steps: the steps of a block repeated
  // twice are only the block's own, so they are often fewer than `least` too.
  const p = period(values);
  if (p !== undefined) return `repeats a block of ${p}`;
  if (distinct(deltas(values, key ? 256 : undefined)) < least) {
    return 'is a counting or stepping sequence';
  }
  if (key && key.every((b) => b >= 0x20 && b <= 0x7e)) {
    return 'is text written as hex or base64, not random bytes';
  }
  if (!key && /^[a-z]+([^A-Za-z0-9]+[a-z]+)*[^A-Za-z0-9]*$/.test(text)) {
    return 'is a phrase of lower-case words';
  }
  return undefined;
}

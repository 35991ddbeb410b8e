// Seeded pseudo-random numbers (mulberry32) so behaviour rates are reproducible.
export type Rng = () => number;

export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** True with probability `rate` (0 never draws a number, so a zero rate never shifts the sequence). */
export function chance(rng: Rng, rate: number): boolean {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  return rng() < rate;
}

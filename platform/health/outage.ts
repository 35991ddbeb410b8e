// One log line when a component loses a dependency and one when it has it
// back, with how long it was gone: not one line per retry.
import type { Logger } from '../logger/index.ts';

export interface Outage {
  /** True between a failure and the next success. */
  readonly down: boolean;
  /** Since when (ms epoch) it is down, or undefined. */
  readonly since: number | undefined;
  /** Reports a failure: logged only when it starts an outage. */
  failed(err: unknown): void;
  /** Reports a success: logged only when it ends an outage. */
  ok(): void;
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err).slice(0, 300);
  const code = (err as { code?: unknown }).code;
  return (
    typeof code === 'string' && !err.message.includes(code)
      ? `${code}: ${err.message}`
      : err.message
  ).slice(0, 300);
}

/**
 * `what` names the thing lost, as in "relay lost mysql" (the component is the
 * logger's own field). The lines are `<component> lost <what>` (warn) and
 * `<component> recovered <what>` (info, with outageMs).
 */
export function outage(logger: Logger, component: string, what: string): Outage {
  let since: number | undefined;
  let failures = 0;
  return {
    get down() {
      return since !== undefined;
    },
    get since() {
      return since;
    },
    failed(err) {
      failures++;
      if (since !== undefined) return;
      since = Date.now();
      logger.warn(`${component} lost ${what}; retrying with backoff`, { err: describe(err) });
    },
    ok() {
      if (since === undefined) return;
      const outageMs = Date.now() - since;
      logger.info(`${component} recovered ${what}`, { outageMs, attempts: failures });
      since = undefined;
      failures = 0;
    },
  };
}

/** Exponential backoff with jitter: 250 ms, 500 ms, … up to maxMs. */
export function backoffMs(attempt: number, maxMs = 5_000, baseMs = 250): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

// One Prometheus registry per process (prom-client's default), and helpers
// that create a metric once: components start several times in one test
// process, and prom-client refuses a second metric of the same name.
import client, {
  type Counter,
  type CounterConfiguration,
  type Gauge,
  type GaugeConfiguration,
  type Histogram,
  type HistogramConfiguration,
} from 'prom-client';

export const registry = client.register;

/** Seconds buckets for HTTP and vendor calls: 5 ms … 10 s. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds buckets for things that take longer: receipts, jobs (0.1 s … 1 h). */
export const SLOW_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600];

export function counter<L extends string>(config: CounterConfiguration<L>): Counter<L> {
  return (
    (registry.getSingleMetric(config.name) as Counter<L> | undefined) ?? new client.Counter(config)
  );
}

export function gauge<L extends string>(config: GaugeConfiguration<L>): Gauge<L> {
  return (
    (registry.getSingleMetric(config.name) as Gauge<L> | undefined) ?? new client.Gauge(config)
  );
}

export function histogram<L extends string>(config: HistogramConfiguration<L>): Histogram<L> {
  return (
    (registry.getSingleMetric(config.name) as Histogram<L> | undefined) ??
    new client.Histogram(config)
  );
}

/**
 * A gauge whose value is worked out at scrape time. `collect` may be set
 * again by a later start of the same component (the last one wins); a
 * failing collect leaves the gauge without fresh values rather than failing
 * the scrape.
 */
export function collectedGauge<L extends string>(
  config: Omit<GaugeConfiguration<L>, 'collect'>,
  collect: (g: Gauge<L>) => Promise<void> | void,
): Gauge<L> {
  // the gauge is made once per name; its collect runs whatever collector is set last
  const g = gauge<L>({
    ...config,
    collect: async () => {
      try {
        await collectors.get(config.name)?.();
      } catch {
        // a dependency is down: this gauge is missing from this scrape
      }
    },
  });
  collectors.set(config.name, async () => {
    g.reset();
    await collect(g);
  });
  return g;
}

const collectors = new Map<string, () => Promise<void>>();

/** Stops a component's scrape-time gauges (on close), so that a closed pool is not queried. */
export function dropCollectors(names: readonly string[]): void {
  for (const name of names) collectors.delete(name);
}

let processMetrics = false;

/** Node process metrics (CPU, memory, event loop lag, GC), labelled with the process name. */
export function enableProcessMetrics(processName: string): void {
  registry.setDefaultLabels({ process: processName });
  if (processMetrics) return;
  processMetrics = true;
  // The event-loop delay monitor is a native timer at this resolution (the
  // default, 10 ms, wakes every process 100 times a second: most of an idle
  // child's CPU in /proc, invisible in a --cpu-prof). 200 ms still sees any
  // stall long enough to matter.
  client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 200 });
}

export { client };

// The callback sender's metrics. Labels are bounded: the callback type (a
// fixed list) and the outcome; never an endpoint, tenant or message id.
import type { RowDataPacket } from 'mysql2/promise';
import {
  LATENCY_BUCKETS,
  collectedGauge,
  counter,
  dropCollectors,
  histogram,
} from '../../platform/metrics/index.ts';
import type { ProcessorDeps } from '../deps.ts';

const deliveries = counter({
  name: 'streaming_callback_deliveries_total',
  help: 'Callback calls by callback type and outcome: delivered, failed (retried later), dead_lettered (given up)',
  labelNames: ['type', 'result'] as const,
});
const duration = histogram({
  name: 'streaming_callback_delivery_seconds',
  help: 'Callback call duration by outcome (ok: a 2xx answer; error: any other answer, a timeout or a refused connection)',
  labelNames: ['result'] as const,
  buckets: LATENCY_BUCKETS,
});

const GAUGES = [
  'streaming_callback_pending_deliveries',
  'streaming_callback_oldest_pending_seconds',
  'streaming_callback_endpoints',
];

export function callbackMetrics(deps: Pick<ProcessorDeps, 'mysql'>) {
  collectedGauge(
    {
      name: 'streaming_callback_pending_deliveries',
      help: 'Callback deliveries not yet delivered nor dead-lettered (waiting, retrying or held by a paused endpoint), and dead-lettered ones',
      labelNames: ['state'] as const,
    },
    async (g) => {
      const [rows] = await deps.mysql.query<RowDataPacket[]>(
        "SELECT state, COUNT(*) AS n FROM callback_deliveries WHERE state <> 'delivered' GROUP BY state",
      );
      g.set({ state: 'pending' }, 0);
      g.set({ state: 'failed' }, 0);
      for (const r of rows) g.set({ state: String(r.state) }, Number(r.n));
    },
  );
  collectedGauge(
    {
      name: 'streaming_callback_oldest_pending_seconds',
      help: 'Age of the oldest callback delivery still pending (0: none)',
    },
    async (g) => {
      const [rows] = await deps.mysql.query<RowDataPacket[]>(
        "SELECT MIN(first_at_ms) AS oldest FROM callback_deliveries WHERE state = 'pending'",
      );
      const oldest = rows[0]?.oldest;
      g.set(oldest === null || oldest === undefined ? 0 : (Date.now() - Number(oldest)) / 1000);
    },
  );
  collectedGauge(
    {
      name: 'streaming_callback_endpoints',
      help: 'Callback endpoints by status (active, paused)',
      labelNames: ['status'] as const,
    },
    async (g) => {
      const [rows] = await deps.mysql.query<RowDataPacket[]>(
        "SELECT status, COUNT(*) AS n FROM callback_endpoints WHERE status <> 'deleted' GROUP BY status",
      );
      g.set({ status: 'active' }, 0);
      g.set({ status: 'paused' }, 0);
      for (const r of rows) g.set({ status: String(r.status) }, Number(r.n));
    },
  );
  return {
    delivered(type: string, result: 'delivered' | 'failed' | 'dead_lettered') {
      deliveries.inc({ type, result });
    },
    observe(result: 'ok' | 'error', seconds: number) {
      duration.observe({ result }, seconds);
    },
    close() {
      dropCollectors(GAUGES);
    },
  };
}

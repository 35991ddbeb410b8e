export {
  registry,
  counter,
  gauge,
  histogram,
  collectedGauge,
  dropCollectors,
  enableProcessMetrics,
  LATENCY_BUCKETS,
  SLOW_BUCKETS,
} from './registry.ts';
export { httpMetrics, noteErrorCode, routeOf } from './http.ts';
export {
  startMetricsServer,
  answerMetricsOverIpc,
  aggregatedMetrics,
  metricsTokenMatches,
  METRICS_CONTENT_TYPE,
  type MetricsServer,
} from './serve.ts';
export { startEventMetrics, type EventMetrics } from './events.ts';

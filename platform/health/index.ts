// Health of long-running parts: outage logging with backoff, and the
// pipeline registry that readiness reports.
export { outage, backoffMs, type Outage } from './outage.ts';
export {
  createPipeline,
  type Pipeline,
  type Part,
  type PartProbe,
  type PartReport,
  type PartState,
  type PipelineOptions,
} from './pipeline.ts';
export { isOutageError } from './errors.ts';
export { publishPipeline, readSharedPipeline, type SharedPartReport } from './shared.ts';

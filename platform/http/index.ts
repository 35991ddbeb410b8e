export {
  createHttpApp,
  finishHttpApp,
  pipelineReport,
  type HttpAppOptions,
  type PipelineReport,
  type Readiness,
} from './app.ts';
export {
  validateBody,
  validateQuery,
  validatedQuery,
  validateInput,
  validationError,
  ajv,
  type FieldError,
} from './validate.ts';
export {
  startHttpServer,
  ignoreRepeatedSignals,
  onShutdown,
  shutdown,
  type HttpServerOptions,
  type RunningHttpServer,
} from './server.ts';

// The query side: HTTP API over the read models, and the audit export.
export {
  listMessages,
  getMessage,
  type ListMessagesQuery,
} from './gettingMessageHistory/routes.ts';
export { listTemplates, getTemplate, type ListTemplatesQuery } from './gettingTemplates/routes.ts';
export { createQueryApp, startQueryService, type RunningQueryService } from './app.ts';
export {
  waitForReadModels,
  readModelPositions,
  liveCollection,
  type QueryDeps,
  type ReadModel,
} from './readModels.ts';
export {
  auditExport,
  auditLines,
  countAuditRecords,
  type AuditExportOptions,
  type AuditFormat,
  type AuditQuery,
} from './exportingAudit/export.ts';
export {
  auditVerify,
  verifyAuditText,
  type VerifyResult,
  type VerifyProblem,
  type ProblemKind,
} from './exportingAudit/verify.ts';
export {
  canonicalJson,
  recordHash,
  createChain,
  GENESIS,
  type AuditRecord,
  type Manifest,
} from './exportingAudit/chain.ts';

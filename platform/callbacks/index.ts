export {
  SIGNATURE_HEADER,
  SIGNATURE_TOLERANCE_SECONDS,
  signatureOf,
  signatureHeader,
  verifySignature,
  newCallbackSecret,
  sealCallbackSecret,
  openCallbackSecret,
  messageCallbackSecret,
} from './signing.ts';
export {
  isPublicAddress,
  checkCallbackTarget,
  postCallback,
  CallbackTargetError,
  type PostResult,
} from './target.ts';
export { CALLBACK_TABLES, ensureCallbackTables } from './tables.ts';

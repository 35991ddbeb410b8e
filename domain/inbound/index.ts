export { isOptOutKeyword, optOutKeyword, optOutKeywords, type OptOutKeyword } from './keywords.ts';
export {
  optOutDecider,
  optOutStream,
  type OptOutState,
  type OptOutCommand,
  type OptOut,
  type OptOutEvent,
  type MobileOptedOut,
} from './optOut.ts';

export {
  isOptOutKeyword,
  optInKeyword,
  optInKeywords,
  optOutKeyword,
  optOutKeywords,
  type OptInKeyword,
  type OptOutKeyword,
} from './keywords.ts';
export {
  API_KEYWORD,
  optOutDecider,
  optOutStream,
  type OptOutState,
  type OptOutCommand,
  type OptOut,
  type OptIn,
  type OptOutEvent,
  type MobileOptedOut,
  type MobileOptedIn,
} from './optOut.ts';

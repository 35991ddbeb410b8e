export { normalizeMobile, maskMobile, callingCodeOf, type MobileProblem } from './mobile.ts';

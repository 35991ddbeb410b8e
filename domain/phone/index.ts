export { normalizeMobile, maskMobile, type MobileProblem } from './mobile.ts';

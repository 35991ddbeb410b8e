export {
  countSegments,
  splitSegments,
  isGsm7,
  type Encoding,
  type SegmentCount,
} from './segments.ts';
export { renderMessage } from './render.ts';

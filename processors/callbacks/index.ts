export {
  startCallbacks,
  retryDelayMs,
  CALLBACKS_CHECKPOINT,
  CALLBACK_SOURCE_TYPES,
  type CallbackOptions,
} from './sender.ts';

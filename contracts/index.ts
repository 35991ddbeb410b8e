// Names shared between folders: event-store streams, read models, Redis keys and Kafka
// topics. Every folder but domain/ may import this; it imports only domain/ (the
// deciders name their own streams).
export * from './streams.ts';
export * from './readModels.ts';
export * from './redisKeys.ts';
export * from './topics.ts';

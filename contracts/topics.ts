// Kafka topic and consumer-group names (the defaults of their STREAMING_KAFKA_* settings;
// a system sharing a broker with another sets its own).

/** Messages to dispatch: the relay and the timers publish, the dispatchers consume. */
export const DISPATCH_TOPIC = 'sms.dispatch';
export const DISPATCH_GROUP = 'streaming-dispatcher';
/** Operational tracking events: every service publishes, the pump reads. */
export const TRACKING_TOPIC = 'streaming.tracking';
export const PUMP_GROUP = 'streaming-pump';

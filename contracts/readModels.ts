// Read-model names: the MySQL tables and Mongo collections the projectors build and the
// query side, the jobs and the tools read. A projection's checkpoint is `<name>@<version>`.

/** Read models in MySQL (table = name). */
export const MYSQL_READ_MODELS = [
  'message_history',
  'templates',
  'signatures',
  'users',
  'inbound_messages',
  'tenants',
  'opt_outs',
] as const;
/** Read models in Mongo (collection = name, behind a live pointer a rebuild swaps). */
export const MONGO_READ_MODELS = ['audit_log', 'message_timelines'] as const;

export type MysqlReadModel = (typeof MYSQL_READ_MODELS)[number];
export type MongoReadModel = (typeof MONGO_READ_MODELS)[number];
export type ReadModel = MysqlReadModel | MongoReadModel;

export const MESSAGE_HISTORY = 'message_history' satisfies MysqlReadModel;
export const INBOUND_MESSAGES = 'inbound_messages' satisfies MysqlReadModel;
export const OPT_OUTS = 'opt_outs' satisfies MysqlReadModel;
export const AUDIT_LOG = 'audit_log' satisfies MongoReadModel;
export const MESSAGE_TIMELINES = 'message_timelines' satisfies MongoReadModel;

/** The Mongo collection beside a Mongo read model that holds its checkpoint (`<name>@<version>:<collection>`). */
export const MONGO_CHECKPOINT_COLLECTION = 'projection_checkpoints';
/**
 * The callback sender's checkpoint (in the MySQL checkpoints table): what a
 * query's `after=` on callback deliveries waits for.
 */
export const CALLBACKS_CHECKPOINT = 'callbacks.sender';

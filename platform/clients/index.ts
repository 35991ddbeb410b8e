export {
  createMysqlPool,
  createRedis,
  createMongo,
  MONGO_POOL_CHECK_MS,
  createKafka,
  readinessChecks,
  type MysqlPool,
  type MongoHandle,
  type ReadinessTargets,
} from './clients.ts';
export { luaScript, type LuaScript } from './luaScript.ts';
export { coreConnectionOf, type CoreConnection } from './mysqlCore.ts';

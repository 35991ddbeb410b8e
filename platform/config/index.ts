export {
  loadConfig,
  unknownVariables,
  ConfigError,
  type Config,
  type ConfigProblem,
  type Env,
  type Environment,
  type LogLevel,
  type SupplierAccount,
  type SupplierVendor,
} from './load.ts';
export {
  configDefinitions,
  supplierAccountSchema,
  defaultSupplierAccounts,
  type ConfigDefinition,
} from './definitions.ts';
export { renderConfigDocs, configDocsPath } from './docs.ts';
export { allowList, allows, cidrProblem } from './cidrs.ts';
export { redisPrefixOf, type PrefixSource } from './redisPrefix.ts';

// Authentication and authorisation: JWTs for people, API keys for systems,
// password hashing, and the visibility rule between tenants.
export {
  issueToken,
  verifyToken,
  type IssuedToken,
  type Role,
  type TokenClaims,
} from './tokens.ts';
export {
  generateApiKey,
  hashApiKey,
  parseApiKey,
  apiKeyMatches,
  type NewApiKey,
} from './apiKeys.ts';
export {
  hashPassword,
  verifyPassword,
  needsRehash,
  PASSWORD_LOG_N,
  type PasswordCost,
} from './passwords.ts';
export {
  publishUserAccess,
  publishEndedToken,
  rebuildUserAccess,
  userAccess,
  type SessionStore,
  type UserAccess,
} from './sessions.ts';
export { takeAttempt, giveBack, type Counter, type ThrottleResult } from './throttle.ts';
export {
  createAuthenticator,
  createPrincipalResolver,
  bearerOf,
  requireAdmin,
  canSee,
  principalOf,
  actorOf,
  type Principal,
  type AuthenticatorDeps,
} from './middleware.ts';

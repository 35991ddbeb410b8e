export {
  validateRegistration,
  validateUsername,
  USERNAME_PATTERN,
  MIN_PASSWORD_LENGTH,
  MAX_PASSWORD_LENGTH,
  type RegistrationInput,
  type ValidRegistration,
} from './registration.ts';
export {
  userDecider,
  userStream,
  roles,
  type Role,
  type UserState,
  type UserCommand,
  type RegisterUser,
  type UserEvent,
  type UserRegistered,
} from './user.ts';
export {
  usernameDecider,
  usernameStream,
  type UsernameState,
  type UsernameCommand,
  type ReserveUsername,
  type UsernameEvent,
  type UsernameReserved,
} from './username.ts';
export {
  apiKeyDecider,
  apiKeyStream,
  isApiKeyActive,
  type ApiKeyState,
  type ApiKeyCommand,
  type CreateApiKey,
  type RevokeApiKey,
  type ApiKeyEvent,
  type ApiKeyCreated,
  type ApiKeyRevoked,
} from './apiKey.ts';

// The User aggregate, stream `user-<userId>`. Besides registration it holds
// what decides whether a person's tokens still work: the token version (a
// password change or a disable raises it, ending every earlier token), the
// disabled flag, and the sessions ended one by one (logout).
import type { Decider, Event } from '../decider.ts';
import { DomainError } from '../errors.ts';
import { requireIsoTime, requireText, withoutUndefined } from '../checks/index.ts';
import { validateUsername } from './registration.ts';

export const userStream = (userId: string): string => `user-${userId}`;

export type Role = 'admin' | 'member';
export const roles: readonly Role[] = ['admin', 'member'];

export type UserRegistered = Event<
  'user.registered.v1',
  {
    userId: string;
    username: string;
    passwordHash: string;
    role: Role;
    email?: string;
    phone?: string;
  }
>;
/** The person chose a new password: every token issued before ends. */
export type UserPasswordChanged = Event<
  'user.password-changed.v1',
  { userId: string; passwordHash: string }
>;
/** The same password, hashed at the current cost (at a login): tokens stay valid. */
export type UserPasswordRehashed = Event<
  'user.password-rehashed.v1',
  { userId: string; passwordHash: string }
>;
export type UserDisabled = Event<'user.disabled.v1', { userId: string }>;
export type UserEnabled = Event<'user.enabled.v1', { userId: string }>;
/** One token ended (logout); it would have expired at expiresAt anyway. */
export type UserSessionEnded = Event<
  'user.session-ended.v1',
  { userId: string; tokenId: string; expiresAt: string }
>;
export type UserEvent =
  | UserRegistered
  | UserPasswordChanged
  | UserPasswordRehashed
  | UserDisabled
  | UserEnabled
  | UserSessionEnded;

export type RegisterUser = {
  type: 'RegisterUser';
  data: {
    userId: string;
    username: string;
    passwordHash: string;
    role: Role;
    email?: string | undefined;
    phone?: string | undefined;
  };
};
export type ChangePassword = { type: 'ChangePassword'; data: { passwordHash: string } };
/** Only while the stored hash is still `previousHash` (a concurrent change wins). */
export type RehashPassword = {
  type: 'RehashPassword';
  data: { passwordHash: string; previousHash: string };
};
export type DisableUser = { type: 'DisableUser'; data: Record<string, never> };
export type EnableUser = { type: 'EnableUser'; data: Record<string, never> };
export type EndSession = { type: 'EndSession'; data: { tokenId: string; expiresAt: string } };
export type UserCommand =
  RegisterUser | ChangePassword | RehashPassword | DisableUser | EnableUser | EndSession;

export type UserState =
  | { exists: false }
  | {
      exists: true;
      userId: string;
      username: string;
      passwordHash: string;
      role: Role;
      email: string | undefined;
      phone: string | undefined;
      /** Tokens carry the version they were issued at; only the current one is valid. */
      tokenVersion: number;
      disabled: boolean;
      /** tokenId → expiresAt of sessions ended by logout. */
      endedSessions: Readonly<Record<string, string>>;
    };

function requireUser(state: UserState): Extract<UserState, { exists: true }> {
  if (!state.exists) throw new DomainError('USER_NOT_FOUND', 'No such user.');
  return state;
}

function decide(command: UserCommand, state: UserState): UserEvent[] {
  switch (command.type) {
    case 'RegisterUser': {
      const d = command.data;
      if (state.exists) {
        throw new DomainError('VERSION_CONFLICT', `User ${state.userId} is already registered.`);
      }
      if (!roles.includes(d.role)) {
        throw new DomainError('VALIDATION_FAILED', `role must be one of ${roles.join(', ')}.`, {
          field: 'role',
        });
      }
      return [
        {
          type: 'user.registered.v1',
          data: withoutUndefined({
            userId: requireText(d.userId, 'userId'),
            username: validateUsername(d.username),
            passwordHash: requireText(d.passwordHash, 'passwordHash'),
            role: d.role,
            email: d.email,
            phone: d.phone,
          }),
        },
      ];
    }
    case 'ChangePassword': {
      const user = requireUser(state);
      return [
        {
          type: 'user.password-changed.v1',
          data: {
            userId: user.userId,
            passwordHash: requireText(command.data.passwordHash, 'passwordHash'),
          },
        },
      ];
    }
    case 'RehashPassword': {
      const user = requireUser(state);
      if (user.passwordHash !== command.data.previousHash) return [];
      return [
        {
          type: 'user.password-rehashed.v1',
          data: {
            userId: user.userId,
            passwordHash: requireText(command.data.passwordHash, 'passwordHash'),
          },
        },
      ];
    }
    case 'DisableUser': {
      const user = requireUser(state);
      return user.disabled ? [] : [{ type: 'user.disabled.v1', data: { userId: user.userId } }];
    }
    case 'EnableUser': {
      const user = requireUser(state);
      return user.disabled ? [{ type: 'user.enabled.v1', data: { userId: user.userId } }] : [];
    }
    case 'EndSession': {
      const user = requireUser(state);
      const tokenId = requireText(command.data.tokenId, 'tokenId');
      if (Object.hasOwn(user.endedSessions, tokenId)) return [];
      return [
        {
          type: 'user.session-ended.v1',
          data: {
            userId: user.userId,
            tokenId,
            expiresAt: requireIsoTime(command.data.expiresAt, 'expiresAt'),
          },
        },
      ];
    }
  }
}

function evolve(state: UserState, event: UserEvent): UserState {
  if (event.type === 'user.registered.v1') {
    return {
      exists: true,
      userId: event.data.userId,
      username: event.data.username,
      passwordHash: event.data.passwordHash,
      role: event.data.role,
      email: event.data.email,
      phone: event.data.phone,
      tokenVersion: 0,
      disabled: false,
      endedSessions: {},
    };
  }
  if (!state.exists) return state;
  switch (event.type) {
    case 'user.password-changed.v1':
      return {
        ...state,
        passwordHash: event.data.passwordHash,
        tokenVersion: state.tokenVersion + 1,
      };
    case 'user.password-rehashed.v1':
      return { ...state, passwordHash: event.data.passwordHash };
    case 'user.disabled.v1':
      return { ...state, disabled: true, tokenVersion: state.tokenVersion + 1 };
    case 'user.enabled.v1':
      return { ...state, disabled: false };
    case 'user.session-ended.v1':
      return {
        ...state,
        endedSessions: { ...state.endedSessions, [event.data.tokenId]: event.data.expiresAt },
      };
    default:
      return state;
  }
}

export const userDecider: Decider<UserCommand, UserState, UserEvent> = {
  decide,
  evolve,
  initialState: () => ({ exists: false }),
};

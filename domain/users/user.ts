// The User aggregate, stream `user-<userId>`.
import type { Decider, Event } from '../decider.ts';
import { DomainError } from '../errors.ts';
import { requireText, withoutUndefined } from '../checks/index.ts';
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
export type UserEvent = UserRegistered;

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
export type UserCommand = RegisterUser;

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
    };

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
  }
}

function evolve(state: UserState, event: UserEvent): UserState {
  switch (event.type) {
    case 'user.registered.v1':
      return {
        exists: true,
        userId: event.data.userId,
        username: event.data.username,
        passwordHash: event.data.passwordHash,
        role: event.data.role,
        email: event.data.email,
        phone: event.data.phone,
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

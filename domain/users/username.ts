// Username reservation, stream `username-<username>`, appended with "no stream"
// expected so two registrations cannot both win.
import type { Decider, Event } from '../decider.ts';
import { DomainError } from '../errors.ts';
import { requireText } from '../checks/index.ts';
import { validateUsername } from './registration.ts';

export const usernameStream = (username: string): string => `username-${username}`;

export type UsernameReserved = Event<'username.reserved.v1', { username: string; userId: string }>;
export type UsernameEvent = UsernameReserved;

export type ReserveUsername = {
  type: 'ReserveUsername';
  data: { username: string; userId: string };
};
export type UsernameCommand = ReserveUsername;

export type UsernameState =
  { reserved: false } | { reserved: true; username: string; userId: string };

function decide(command: UsernameCommand, state: UsernameState): UsernameEvent[] {
  switch (command.type) {
    case 'ReserveUsername': {
      const username = validateUsername(command.data.username);
      const userId = requireText(command.data.userId, 'userId');
      if (state.reserved) {
        // the same user retrying a half-finished registration
        if (state.userId === userId) return [];
        throw new DomainError('USERNAME_TAKEN', `The username "${username}" is taken.`, {
          field: 'username',
        });
      }
      return [{ type: 'username.reserved.v1', data: { username, userId } }];
    }
  }
}

function evolve(state: UsernameState, event: UsernameEvent): UsernameState {
  switch (event.type) {
    case 'username.reserved.v1':
      return { reserved: true, username: event.data.username, userId: event.data.userId };
    default:
      return state;
  }
}

export const usernameDecider: Decider<UsernameCommand, UsernameState, UsernameEvent> = {
  decide,
  evolve,
  initialState: () => ({ reserved: false }),
};

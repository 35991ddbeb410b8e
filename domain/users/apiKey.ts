// The ApiKey aggregate, stream `apikey-<keyId>`. Only the key's hash is stored.
import type { Decider, Event } from '../decider.ts';
import { DomainError } from '../errors.ts';
import { requireText } from '../checks/index.ts';

export const apiKeyStream = (keyId: string): string => `apikey-${keyId}`;

export type ApiKeyCreated = Event<
  'apikey.created.v1',
  { keyId: string; userId: string; name: string; keyHash: string }
>;
// userId is the key's owner; who revoked it is in the event metadata (actor).
export type ApiKeyRevoked = Event<'apikey.revoked.v1', { keyId: string; userId: string }>;
export type ApiKeyEvent = ApiKeyCreated | ApiKeyRevoked;

export type CreateApiKey = {
  type: 'CreateApiKey';
  data: { keyId: string; userId: string; name: string; keyHash: string };
};
export type RevokeApiKey = { type: 'RevokeApiKey'; data: { userId: string; isAdmin: boolean } };
export type ApiKeyCommand = CreateApiKey | RevokeApiKey;

export type ApiKeyState =
  | { exists: false }
  | {
      exists: true;
      keyId: string;
      userId: string;
      name: string;
      keyHash: string;
      revoked: boolean;
    };

/** True when the key exists and is not revoked. */
export function isApiKeyActive(state: ApiKeyState): boolean {
  return state.exists && !state.revoked;
}

function decide(command: ApiKeyCommand, state: ApiKeyState): ApiKeyEvent[] {
  switch (command.type) {
    case 'CreateApiKey': {
      if (state.exists) {
        throw new DomainError('VERSION_CONFLICT', `API key ${state.keyId} already exists.`);
      }
      const d = command.data;
      return [
        {
          type: 'apikey.created.v1',
          data: {
            keyId: requireText(d.keyId, 'keyId'),
            userId: requireText(d.userId, 'userId'),
            name: typeof d.name === 'string' ? d.name.trim() : '',
            keyHash: requireText(d.keyHash, 'keyHash'),
          },
        },
      ];
    }
    case 'RevokeApiKey': {
      // Another user's key is reported as absent, so key ids cannot be probed.
      if (!state.exists || (state.userId !== command.data.userId && !command.data.isAdmin)) {
        throw new DomainError('NOT_FOUND', 'No such API key.');
      }
      if (state.revoked) return [];
      return [{ type: 'apikey.revoked.v1', data: { keyId: state.keyId, userId: state.userId } }];
    }
  }
}

function evolve(state: ApiKeyState, event: ApiKeyEvent): ApiKeyState {
  switch (event.type) {
    case 'apikey.created.v1':
      return { exists: true, ...event.data, revoked: false };
    case 'apikey.revoked.v1':
      return state.exists ? { ...state, revoked: true } : state;
    default:
      return state;
  }
}

export const apiKeyDecider: Decider<ApiKeyCommand, ApiKeyState, ApiKeyEvent> = {
  decide,
  evolve,
  initialState: () => ({ exists: false }),
};

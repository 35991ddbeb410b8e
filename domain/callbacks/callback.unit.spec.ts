import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { given } from '../testing/index.ts';
import { callbackDecider as decider, validateCallbackUrl, type CallbackEvent } from './index.ts';

const registered: CallbackEvent = {
  type: 'callback.registered.v1',
  data: {
    callbackId: 'cb1',
    tenantId: 'acme',
    url: 'https://hooks.acme.example/sms',
    events: ['message.delivered', 'message.failed'],
    sealedSecret: 'sealed-1',
  },
};
const paused: CallbackEvent = {
  type: 'callback.paused.v1',
  data: {
    callbackId: 'cb1',
    reason: { code: 'ENDPOINT_FAILING', message: 'HTTP 500 for an hour' },
    failingSince: '2026-12-01T00:00:00.000Z',
  },
};
const owner = { tenantId: 'acme' };

describe('callback endpoint', () => {
  it('registers with a checked URL and events in their stable order', () => {
    given(decider)
      .when({
        type: 'RegisterCallback',
        data: {
          callbackId: 'cb1',
          tenantId: 'acme',
          url: ' https://hooks.acme.example/sms ',
          events: ['message.failed', 'message.delivered'],
          sealedSecret: 'sealed-1',
        },
      })
      .then([registered]);
    given(decider, [registered])
      .when({
        type: 'RegisterCallback',
        data: { ...registered.data, events: ['message.failed'] } as never,
      })
      .thenThrows('CALLBACK_EXISTS');
  });

  it('refuses URLs that are not http(s), carry credentials or a fragment, and unknown events', () => {
    const register = (url: string, events: string[] = ['message.delivered']) =>
      given(decider).when({
        type: 'RegisterCallback',
        data: { callbackId: 'x', tenantId: 'acme', url, events, sealedSecret: 's' },
      });
    register('ftp://example.com/').thenThrows('CALLBACK_URL_INVALID', { reason: 'SCHEME' });
    register('not a url').thenThrows('CALLBACK_URL_INVALID', { reason: 'SYNTAX' });
    register('https://u:p@example.com/').thenThrows('CALLBACK_URL_INVALID', {
      reason: 'CREDENTIALS',
    });
    register('https://example.com/#x').thenThrows('CALLBACK_URL_INVALID', { reason: 'FRAGMENT' });
    register(`https://example.com/${'a'.repeat(2050)}`).thenThrows('CALLBACK_URL_INVALID', {
      reason: 'LENGTH',
    });
    register('https://example.com/', []).thenThrows('CALLBACK_EVENTS_INVALID');
    register('https://example.com/', ['message.read']).thenThrows('CALLBACK_EVENTS_INVALID', {
      unknown: ['message.read'],
    });
    assert.equal(validateCallbackUrl('HTTPS://Example.COM'), 'https://example.com/');
  });

  it('updates only what changed, and an update resumes a paused endpoint', () => {
    given(decider, [registered])
      .when({
        type: 'UpdateCallback',
        data: { ...owner, url: 'https://hooks.acme.example/sms', events: ['message.delivered'] },
      })
      .then([
        { type: 'callback.updated.v1', data: { callbackId: 'cb1', events: ['message.delivered'] } },
      ]);
    given(decider, [registered])
      .when({ type: 'UpdateCallback', data: { ...owner, url: 'https://hooks.acme.example/sms' } })
      .thenNothing();
    given(decider, [registered, paused])
      .when({ type: 'UpdateCallback', data: { ...owner } })
      .then([{ type: 'callback.resumed.v1', data: { callbackId: 'cb1' } }]);
    given(decider, [registered, paused])
      .when({ type: 'ResumeCallback', data: owner })
      .then([{ type: 'callback.resumed.v1', data: { callbackId: 'cb1' } }]);
    given(decider, [registered]).when({ type: 'ResumeCallback', data: owner }).thenNothing();
  });

  it("is not found for another tenant, nor once deleted (an admin may act on any tenant's)", () => {
    given(decider, [registered])
      .when({ type: 'DeleteCallback', data: { tenantId: 'other' } })
      .thenThrows('CALLBACK_NOT_FOUND');
    given(decider, [registered])
      .when({ type: 'DeleteCallback', data: { tenantId: 'root', admin: true } })
      .then([{ type: 'callback.deleted.v1', data: { callbackId: 'cb1' } }]);
    const deleted: CallbackEvent = { type: 'callback.deleted.v1', data: { callbackId: 'cb1' } };
    given(decider, [registered, deleted])
      .when({ type: 'RequestTest', data: { ...owner, testId: 't1' } })
      .thenThrows('CALLBACK_NOT_FOUND');
    given(decider)
      .when({ type: 'UpdateCallback', data: { ...owner, url: 'https://x.example/' } })
      .thenThrows('CALLBACK_NOT_FOUND');
  });

  it('records test and replay requests', () => {
    given(decider, [registered])
      .when({ type: 'RequestTest', data: { ...owner, testId: 't1' } })
      .then([{ type: 'callback.test-requested.v1', data: { callbackId: 'cb1', testId: 't1' } }]);
    given(decider, [registered])
      .when({ type: 'RequestReplay', data: { ...owner, deliveryIds: ['d1', 'd1', 'd2'] } })
      .then([
        {
          type: 'callback.replay-requested.v1',
          data: { callbackId: 'cb1', deliveryIds: ['d1', 'd2'] },
        },
      ]);
    given(decider, [registered])
      .when({ type: 'RequestReplay', data: owner })
      .then([{ type: 'callback.replay-requested.v1', data: { callbackId: 'cb1' } }]);
    given(decider, [registered])
      .when({ type: 'RequestReplay', data: { ...owner, deliveryIds: [] } })
      .thenThrows('VALIDATION_FAILED');
  });

  it("takes the sender's pause once, and records dead letters", () => {
    given(decider, [registered])
      .when({
        type: 'PauseCallback',
        data: { reason: paused.data.reason, failingSince: paused.data.failingSince } as never,
      })
      .then([paused]);
    given(decider, [registered, paused])
      .when({
        type: 'PauseCallback',
        data: { reason: paused.data.reason, failingSince: 'x' } as never,
      })
      .thenNothing();
    given(decider)
      .when({
        type: 'PauseCallback',
        data: { reason: paused.data.reason, failingSince: 'x' } as never,
      })
      .thenNothing();
    given(decider, [registered])
      .when({
        type: 'RecordDeadLetter',
        data: { deliveryId: 'd1', eventId: 'e1', attempts: 9, lastError: 'HTTP 500' },
      })
      .then([
        {
          type: 'callback.delivery-dead-lettered.v1',
          data: {
            callbackId: 'cb1',
            deliveryId: 'd1',
            eventId: 'e1',
            attempts: 9,
            lastError: 'HTTP 500',
          },
        },
      ]);
  });
});

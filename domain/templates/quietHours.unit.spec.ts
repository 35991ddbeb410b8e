// Quiet hours of marketing templates: the window in its zone, and the template
// decider that carries it (given/when/then).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aggregate } from '../decider.ts';
import { given } from '../testing/index.ts';
import {
  quietUntil,
  requireQuietHours,
  templateDecider as decider,
  type CreateTemplate,
  type TemplateCreated,
  type TemplateEvent,
} from './index.ts';

const night = { start: '21:00:00', end: '08:00:00', timeZone: 'Asia/Shanghai' };

describe('quietUntil', () => {
  // Asia/Shanghai is UTC+8 all year
  it('holds a moment inside a window that crosses midnight until it ends, in the zone', () => {
    // 22:30 in Shanghai → 08:00 the next morning there
    assert.equal(
      quietUntil(night, Date.parse('2026-12-01T14:30:00Z')),
      Date.parse('2026-12-02T00:00:00Z'),
    );
    // 03:00 in Shanghai → 08:00 the same morning
    assert.equal(
      quietUntil(night, Date.parse('2026-12-01T19:00:00Z')),
      Date.parse('2026-12-02T00:00:00Z'),
    );
  });
  it('lets a moment outside the window go at once, the end itself included', () => {
    assert.equal(quietUntil(night, Date.parse('2026-12-02T04:00:00Z')), undefined); // 12:00
    assert.equal(quietUntil(night, Date.parse('2026-12-02T00:00:00Z')), undefined); // 08:00
    assert.equal(quietUntil(night, Date.parse('2026-12-02T12:59:59Z')), undefined); // 20:59:59
  });
  it('reads the window in its own zone, daylight saving included', () => {
    const ny = { ...night, timeZone: 'America/New_York' };
    // 22:30 in New York in winter (UTC-5) → 08:00 there = 13:00Z
    assert.equal(
      quietUntil(ny, Date.parse('2026-12-02T03:30:00Z')),
      Date.parse('2026-12-02T13:00:00Z'),
    );
    // in summer (UTC-4): 08:00 there = 12:00Z
    assert.equal(
      quietUntil(ny, Date.parse('2026-07-02T03:30:00Z')),
      Date.parse('2026-07-02T12:00:00Z'),
    );
    // 22:30 in Shanghai is 09:30 in New York: outside there
    assert.equal(quietUntil(ny, Date.parse('2026-12-01T14:30:00Z')), undefined);
  });
  it('handles a window within one day, to the second', () => {
    const lunch = { start: '12:00:00', end: '13:30:05', timeZone: 'Asia/Shanghai' };
    assert.equal(
      quietUntil(lunch, Date.parse('2026-12-02T04:10:00Z')),
      Date.parse('2026-12-02T05:30:05Z'),
    );
    assert.equal(quietUntil(lunch, Date.parse('2026-12-02T06:00:00Z')), undefined);
  });
});

describe('requireQuietHours', () => {
  it('normalises the times and defaults the zone to China', () => {
    assert.deepEqual(requireQuietHours({ start: '21:00', end: '08:00' }, 'marketing'), night);
    assert.equal(
      requireQuietHours({ start: '21:00', end: '08:00', timeZone: 'europe/berlin' }, 'marketing')
        .timeZone,
      'Europe/Berlin',
    );
  });
  it('refuses with a stable code and reason', () => {
    const reasonOf = (value: unknown, kind: 'marketing' | 'notification' = 'marketing') => {
      try {
        requireQuietHours(value, kind);
      } catch (err) {
        const e = err as { code: string; details: { reason: string } };
        assert.equal(e.code, 'QUIET_HOURS_INVALID');
        return e.details.reason;
      }
      return 'accepted';
    };
    assert.equal(reasonOf({ start: '21:00', end: '08:00' }, 'notification'), 'NOT_MARKETING');
    assert.equal(reasonOf({ start: '25:00', end: '08:00' }), 'BAD_TIME');
    assert.equal(reasonOf({ start: '9pm', end: '08:00' }), 'BAD_TIME');
    assert.equal(reasonOf({ start: '21:00' }), 'BAD_TIME');
    assert.equal(reasonOf('21-08'), 'BAD_TIME');
    assert.equal(reasonOf({ start: '21:00', end: '21:00:00' }), 'EMPTY_WINDOW');
    assert.equal(
      reasonOf({ start: '21:00', end: '08:00', timeZone: 'Mars/Olympus' }),
      'UNKNOWN_TIME_ZONE',
    );
  });
});

const marketing: CreateTemplate['data'] = {
  templateId: 't3',
  templateCode: 'SALE',
  tenantId: 'acme',
  name: 'Sale',
  kind: 'marketing',
  signature: 'Acme',
  content: 'Sale today. Reply TD to opt out.',
  suppliers: [],
};

describe('template quiet hours (decider)', () => {
  const createdWith = (quietHours?: typeof night): TemplateCreated => {
    const [event] = decider.decide(
      { type: 'CreateTemplate', data: { ...marketing, ...(quietHours ? { quietHours } : {}) } },
      { exists: false },
    );
    return event as TemplateCreated;
  };
  it('a marketing template is created with them, normalised', () => {
    const event = createdWith();
    given(decider, [])
      .when({
        type: 'CreateTemplate',
        data: { ...marketing, quietHours: { start: '21:00', end: '08:00' } },
      })
      .then([{ ...event, data: { ...event.data, quietHours: night } }]);
  });
  it('a notification template cannot have them', () => {
    given(decider, [])
      .when({
        type: 'CreateTemplate',
        data: { ...marketing, kind: 'notification', quietHours: { start: '21:00', end: '08:00' } },
      })
      .thenThrows('QUIET_HOURS_INVALID');
  });
  it('an update sets, keeps and removes them', () => {
    given(decider, [createdWith()])
      .when({ type: 'UpdateTemplate', data: { quietHours: { start: '22:00', end: '07:30' } } })
      .then([
        {
          type: 'template.updated.v1',
          data: {
            templateCode: 'SALE',
            quietHours: { start: '22:00:00', end: '07:30:00', timeZone: 'Asia/Shanghai' },
          },
        },
      ]);
    // the same hours again change nothing
    given(decider, [createdWith(night)])
      .when({ type: 'UpdateTemplate', data: { quietHours: { start: '21:00', end: '08:00' } } })
      .then([]);
    given(decider, [createdWith(night)])
      .when({ type: 'UpdateTemplate', data: { quietHours: null } })
      .then([{ type: 'template.updated.v1', data: { templateCode: 'SALE', quietHours: null } }]);
    // removing hours it does not have changes nothing
    given(decider, [createdWith()])
      .when({ type: 'UpdateTemplate', data: { quietHours: null } })
      .then([]);
    given(decider, [createdWith()])
      .when({ type: 'UpdateTemplate', data: { quietHours: { start: 'x', end: '08:00' } } })
      .thenThrows('QUIET_HOURS_INVALID');
  });
  it('the state follows the events', () => {
    const events: TemplateEvent[] = [
      createdWith(night),
      { type: 'template.updated.v1', data: { templateCode: 'SALE', quietHours: null } },
    ];
    const withHours = aggregate(decider, events.slice(0, 1));
    assert.deepEqual(withHours.exists && withHours.quietHours, night);
    const without = aggregate(decider, events);
    assert.equal(without.exists && without.quietHours, undefined);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aggregate } from '../decider.ts';
import { given } from '../testing/index.ts';
import {
  approvedSignatureAccounts,
  signatureDecider as decider,
  signatureStream,
  type SignatureEvent,
} from './index.ts';

const registered: SignatureEvent = {
  type: 'signature.registered.v1',
  data: { tenantId: 'acme', name: 'Acme', accounts: ['ali', 'ten'] },
};

describe('signature', () => {
  it('registers a name for the tenant, per account', () => {
    given(decider)
      .when({
        type: 'RegisterSignature',
        data: { tenantId: 'acme', name: ' Acme ', accounts: ['ali', 'ten'] },
      })
      .then([registered]);
    given(decider)
      .when({
        type: 'RegisterSignature',
        data: { tenantId: 'acme', name: '【Acme】', accounts: ['ali'] },
      })
      .thenThrows('SIGNATURE_INVALID', { reason: 'BRACKETS' });
    given(decider)
      .when({ type: 'RegisterSignature', data: { tenantId: 'acme', name: 'A', accounts: ['ali'] } })
      .thenThrows('SIGNATURE_INVALID', { reason: 'LENGTH' });
  });

  it('is another stream for another tenant, and refuses a foreign tenant', () => {
    assert.notEqual(signatureStream('a', 'Acme'), signatureStream('b', 'Acme'));
    given(decider, [registered])
      .when({
        type: 'RegisterSignature',
        data: { tenantId: 'evil', name: 'Acme', accounts: ['ali'] },
      })
      .thenThrows('SIGNATURE_TAKEN');
  });

  it('registering again adds only new accounts', () => {
    given(decider, [registered])
      .when({
        type: 'RegisterSignature',
        data: { tenantId: 'acme', name: 'Acme', accounts: ['ali'] },
      })
      .thenNothing();
    given(decider, [registered])
      .when({
        type: 'RegisterSignature',
        data: { tenantId: 'acme', name: 'Acme', accounts: ['ali', 'x'] },
      })
      .then([{ type: 'signature.accounts-added.v1', data: { name: 'Acme', accounts: ['x'] } }]);
  });

  it('records reviews per account; only approved accounts count', () => {
    const submitted: SignatureEvent = {
      type: 'signature.submitted.v1',
      data: { name: 'Acme', account: 'ali' },
    };
    given(decider, [registered])
      .when({ type: 'RecordSignatureSubmission', data: { account: 'ali' } })
      .then([submitted]);
    given(decider, [registered, submitted])
      .when({ type: 'RecordSignatureSubmission', data: { account: 'ali' } })
      .thenNothing();
    const approved: SignatureEvent = {
      type: 'signature.reviewed.v1',
      data: { name: 'Acme', account: 'ali', status: 'approved' },
    };
    given(decider, [registered, submitted])
      .when({ type: 'RecordSignatureReview', data: { account: 'ali', status: 'approved' } })
      .then([approved]);
    given(decider, [registered, submitted, approved])
      .when({ type: 'RecordSignatureReview', data: { account: 'ali', status: 'approved' } })
      .thenNothing();
    given(decider, [registered])
      .when({ type: 'RecordSignatureReview', data: { account: 'nope', status: 'approved' } })
      .thenThrows('UNKNOWN_SUPPLIER');
    assert.deepEqual(
      approvedSignatureAccounts(aggregate(decider, [registered, submitted, approved])),
      ['ali'],
    );
  });
});

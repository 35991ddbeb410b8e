// The public face of the domain: pure deciders and value objects, no I/O.
// Test support lives in ./testing/index.ts (given/when/then).
export { DomainError } from './errors.ts';
export { aggregate, type Decider, type Event, type Command } from './decider.ts';
export * from './phone/index.ts';
export * from './segments/index.ts';
export * from './templates/index.ts';
export * from './signatures/index.ts';
export * from './users/index.ts';
export * from './messages/index.ts';
export * from './verification/index.ts';
export * from './inbound/index.ts';
export * from './tenants/index.ts';
export * from './callbacks/index.ts';

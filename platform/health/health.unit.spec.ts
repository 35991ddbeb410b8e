import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../logger/index.ts';
import { createPipeline, isOutageError, outage } from './index.ts';

describe('outage', () => {
  it('logs one line when it starts and one when it ends, not one per retry', () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const logger = createLogger({ logLevel: 'info' }, { stream });
    const o = outage(logger, 'relay', 'mysql');
    for (let i = 0; i < 50; i++) o.failed(new Error('connect ECONNREFUSED'));
    assert.equal(o.down, true);
    o.ok();
    o.ok();
    assert.equal(lines.length, 2);
    assert.match(String(lines[0]!.message), /relay lost mysql/);
    assert.match(String(lines[1]!.message), /relay recovered mysql/);
    assert.equal(lines[1]!.attempts, 50);
    assert.equal(typeof lines[1]!.outageMs, 'number');
  });
});

describe('isOutageError', () => {
  it('knows the drivers’ "cannot reach the server" errors from bugs', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3306'), {
      code: 'ECONNREFUSED',
    });
    assert.equal(isOutageError(refused), true);
    assert.equal(isOutageError(Object.assign(new Error('x'), { fatal: true })), true);
    const mongo = Object.assign(new Error('Server selection timed out'), {
      name: 'MongoServerSelectionError',
    });
    assert.equal(isOutageError(mongo), true);
    assert.equal(isOutageError(new Error('wrapped', { cause: refused })), true);
    assert.equal(isOutageError(new TypeError('cannot read properties of undefined')), false);
    assert.equal(isOutageError(new Error('connect ECONNREFUSED in a message only')), false);
  });
});

describe('pipeline', () => {
  it('tells progressing, standby and stalled apart', () => {
    const pipeline = createPipeline({ stallMs: 0, lagMs: 0 });
    let position = 10;
    const part = pipeline.register('relay', 'processor', { position: () => position });
    part.setActive(true);
    // caught up: progressing, whatever the stall time
    assert.equal(pipeline.report(10)[0]!.state, 'progressing');
    // behind and not moving, with a zero stall time: stalled
    assert.equal(pipeline.report(20)[0]!.state, 'stalled');
    assert.deepEqual(pipeline.stalled(20), ['relay']);
    assert.equal(pipeline.report(20)[0]!.lag, 10);
    position = 20;
    assert.equal(pipeline.report(20)[0]!.state, 'progressing');
    part.setActive(false);
    assert.equal(pipeline.report(30)[0]!.state, 'standby');
    part.close();
    assert.deepEqual(pipeline.report(30), []);
  });

  it('says lagging while it moves but stays behind, and stalled only after the stall time', () => {
    const pipeline = createPipeline({ stallMs: 60_000, lagMs: 0 });
    let position = 0;
    const part = pipeline.register('p', 'projection', { position: () => position });
    part.setActive(true);
    position = 5;
    const r = pipeline.report(100)[0]!;
    assert.equal(r.state, 'lagging');
    assert.equal(r.lag, 95);
    part.failed(new Error('mongo down'));
    assert.equal(pipeline.report(100)[0]!.state, 'lagging', 'not stalled before 60 s');
    assert.equal(pipeline.report(100)[0]!.error, 'mongo down');
  });
});

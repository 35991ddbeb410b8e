// docker-compose.yml, read with a YAML parser (no Docker engine here; CI also
// runs `docker compose config` through scripts/check-compose.sh): the stores and
// Kafka are not published on host ports, MySQL, Redis and MongoDB require
// passwords, every password comes from the env file (.env, documented by
// .env.example, ignored by git and by the image build), and the URLs the
// services get are ones streaming's configuration accepts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { loadConfig } from '../../platform/config/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

type Service = {
  image?: string;
  ports?: unknown[];
  network_mode?: string;
  command?: string[] | string;
  environment?: Record<string, string | number | boolean>;
  healthcheck?: { test?: string[] | string };
};
const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;

/** `${NAME:?…}`, `${NAME:-}` or `${NAME}`: a value taken from the env file. */
const INTERPOLATION = /^\$\{([A-Z][A-Z0-9_]*)(?::?[?-][^}]*)?\}$/;
const interpolated = (text: string) =>
  [...text.matchAll(/\$\{([A-Z][A-Z0-9_]*)(?::?[?-][^}]*)?\}/g)].map((m) => m[1]!);

/** Every string in a value, with where it is. */
function* strings(value: unknown, at: string): Generator<[string, string]> {
  if (typeof value === 'string') yield [at, value];
  else if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) yield* strings(v, `${at}[${i}]`);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) yield* strings(v, `${at}.${k}`);
  }
}

const envExample = new Map(
  read('.env.example')
    .split('\n')
    .map((l) => /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(l.trim()))
    .filter((m) => m !== null)
    .map((m) => [m[1]!, m[2]!]),
);

describe('docker-compose.yml', () => {
  it('publishes no store, Redis or Kafka port on the host', () => {
    for (const name of ['kurrentdb', 'mysql', 'redis', 'mongo', 'kafka']) {
      const s = services[name];
      assert.ok(s, `service ${name} exists`);
      assert.equal(s.ports, undefined, `${name} publishes no ports`);
      assert.notEqual(s.network_mode, 'host', `${name} is not on the host network`);
    }
    // what is published: the two HTTP APIs and the gRPC API, and the dashboards on loopback only
    for (const [name, s] of Object.entries(services)) {
      for (const p of s.ports ?? []) {
        const spec = String(p);
        if (name === 'command' || name === 'query' || name === 'grpc') continue;
        assert.match(spec, /^127\.0\.0\.1:/, `${name} publishes ${spec} on loopback only`);
      }
    }
  });

  it('makes MySQL, Redis and MongoDB require a password', () => {
    const env = (name: string) => services[name]?.environment ?? {};
    assert.match(String(env('mysql').MYSQL_PASSWORD), INTERPOLATION);
    assert.match(String(env('mysql').MYSQL_ROOT_PASSWORD), INTERPOLATION);
    const redis = services.redis!;
    const command = [redis.command ?? []].flat().join(' ');
    assert.match(command, /--requirepass "\$\$REDIS_PASSWORD"/, 'redis-server --requirepass');
    assert.match(String(env('redis').REDIS_PASSWORD), INTERPOLATION);
    assert.match(String(env('mongo').MONGO_INITDB_ROOT_USERNAME), /^[a-z]+$/);
    assert.match(String(env('mongo').MONGO_INITDB_ROOT_PASSWORD), INTERPOLATION);
  });

  it('holds no literal password: every one is taken from the env file', () => {
    const secretName = /PASSWORD|SECRET|_KEY$|TOKEN|REDISCLI_AUTH/;
    let checked = 0;
    for (const [name, s] of Object.entries(services)) {
      for (const [key, value] of Object.entries(s.environment ?? {})) {
        if (!secretName.test(key)) continue;
        checked++;
        assert.match(String(value), INTERPOLATION, `${name}.environment.${key} is from .env`);
      }
      for (const [at, text] of strings(s, name)) {
        // user:password@ in any URL
        for (const m of text.matchAll(/[a-z+]+:\/\/[^/\s:@]*:([^@\s]*)@/g)) {
          checked++;
          assert.match(m[1]!, INTERPOLATION, `${at}: the password in ${m[0]} is from .env`);
        }
        // a password on a command line (mysql -pX, redis --requirepass X, -a X)
        assert.doesNotMatch(text, /\s-p[^\s"]/, `${at}: no -p<password>`);
        assert.doesNotMatch(text, /--requirepass\s+(?!"\$\$)/, `${at}: --requirepass "$$VAR"`);
        assert.doesNotMatch(text, /redis-cli.*\s-a\s/, `${at}: no redis-cli -a`);
      }
    }
    assert.ok(checked >= 10, `checked ${checked} password places`);
  });

  it('documents every value it takes from .env in .env.example, with no value filled in', () => {
    const used = new Set(
      [...strings(services, 'services')].flatMap(([, text]) => interpolated(text)),
    );
    for (const name of used) {
      assert.ok(envExample.has(name), `.env.example lists ${name}`);
      assert.equal(envExample.get(name), '', `.env.example leaves ${name} for you to fill in`);
    }
    for (const required of ['MYSQL_PASSWORD', 'REDIS_PASSWORD', 'MONGO_PASSWORD']) {
      assert.ok(used.has(required), `${required} is used`);
    }
  });

  it('keeps .env out of git and out of the image', () => {
    const lines = (file: string) =>
      read(file)
        .split('\n')
        .map((l) => l.trim());
    assert.ok(lines('.gitignore').includes('.env'));
    assert.ok(lines('.dockerignore').includes('.env'));
  });

  it("gives the services URLs with passwords that streaming's configuration accepts", () => {
    const password = 'f3a9c2e17b604d58a1c9e0b7d2f4a6c8';
    const fill = (text: string) =>
      text.replace(/\$\{([A-Z][A-Z0-9_]*)(?::?[?-][^}]*)?\}/g, (_, n: string) =>
        n.endsWith('PASSWORD') ? password : '',
      );
    const env = Object.fromEntries(
      Object.entries(services.command?.environment ?? {}).map(([k, v]) => [k, fill(String(v))]),
    );
    // development mode: the secrets of production are not the point here
    const config = loadConfig({ ...env, STREAMING_ENV: 'development' });
    const redis = new URL(config.redis.url);
    assert.equal(redis.password, password);
    assert.equal(redis.hostname, 'redis');
    const mongo = new URL(config.mongo.url);
    assert.deepEqual([mongo.username, mongo.password], ['streaming', password]);
    assert.equal(mongo.searchParams.get('authSource'), 'admin');
    assert.equal(new URL(config.mysql.url).password, password);
  });
});

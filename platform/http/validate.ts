import { Ajv, type ErrorObject, type Options, type SchemaObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { Request, RequestHandler } from 'express';
import { AppError } from '../errors/index.ts';

const options: Options = {
  allErrors: true,
  removeAdditional: false, // unknown fields fail when the schema says additionalProperties: false
  useDefaults: true,
  strict: true,
  strictRequired: false,
};

/** The shared validator for JSON bodies: no type coercion. Add shared schemas with ajv.addSchema. */
export const ajv = new Ajv({ ...options, coerceTypes: false });
addFormats.default(ajv);

// Query strings are all text: the one place where "10" may become 10 (and "a" an array ["a"]).
const queryAjv = new Ajv({ ...options, coerceTypes: 'array' });
addFormats.default(queryAjv);

export interface FieldError {
  path: string;
  message: string;
}

function compile(instance: Ajv, schema: SchemaObject): ValidateFunction {
  const id = typeof schema.$id === 'string' ? schema.$id : undefined;
  return (id !== undefined ? instance.getSchema(id) : undefined) ?? instance.compile(schema);
}

function fieldPath(where: string, err: ErrorObject): string {
  const params = err.params as Record<string, unknown>;
  const segments = err.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (err.keyword === 'required') segments.push(String(params.missingProperty));
  if (err.keyword === 'additionalProperties') segments.push(String(params.additionalProperty));
  return segments.reduce((acc, s) => (/^[0-9]+$/.test(s) ? `${acc}[${s}]` : `${acc}.${s}`), where);
}

function describe(err: ErrorObject): string {
  const params = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not allowed';
    case 'enum':
      return `must be one of: ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(params.allowedValue)}`;
    case 'type':
      return `must be ${String(params.type)}`;
    default:
      return err.message ?? 'is invalid';
  }
}

/** Ajv errors → AppError('VALIDATION_FAILED') whose message names the first bad field. */
export function validationError(where: string, errors: readonly ErrorObject[]): AppError {
  const list: FieldError[] = [];
  for (const err of errors) {
    if (err.keyword === 'if') continue; // its consequence is reported on its own
    const entry = { path: fieldPath(where, err), message: describe(err) };
    if (!list.some((e) => e.path === entry.path && e.message === entry.message)) list.push(entry);
  }
  const first = list[0] ?? { path: where, message: 'is invalid' };
  return new AppError('VALIDATION_FAILED', `${first.path} ${first.message}.`, { errors: list });
}

/** Rejects a request whose JSON body does not match schema; a missing body is validated as {}. */
export function validateBody(schema: SchemaObject): RequestHandler {
  const validate = compile(ajv, schema);
  return (req, _res, next) => {
    const body: unknown = req.body === undefined ? {} : req.body;
    if (!validate(body)) return next(validationError('body', validate.errors ?? []));
    req.body = body;
    next();
  };
}

/** Rejects a request whose query string does not match schema; values are coerced to the schema's types. */
export function validateQuery(schema: SchemaObject): RequestHandler {
  const validate = compile(queryAjv, schema);
  return (req, _res, next) => {
    const query: Record<string, unknown> = { ...req.query };
    if (!validate(query)) return next(validationError('query', validate.errors ?? []));
    validatedQueries.set(req, query);
    // express 5 re-parses req.query on every read: pin the coerced copy on this request.
    Object.defineProperty(req, 'query', {
      value: query,
      writable: true,
      configurable: true,
      enumerable: true,
    });
    next();
  };
}

// The coerced query of each request that passed validateQuery.
const validatedQueries = new WeakMap<Request, Record<string, unknown>>();

/**
 * The query of a request as validateQuery checked and coerced it, typed as the route's
 * schema describes it (the one place that gives it that type).
 */
export function validatedQuery<T extends object>(req: Request): T {
  const query = validatedQueries.get(req);
  if (query === undefined) throw new Error(`${req.path}: no validateQuery before this handler`);
  return query as T;
}

/**
 * The same check as validateBody (or validateQuery with `query`), for input
 * that arrives another way (gRPC): returns the value with the schema's
 * defaults filled in, or throws the same VALIDATION_FAILED.
 */
export function validateInput<T>(
  schema: SchemaObject,
  value: Record<string, unknown>,
  where: 'body' | 'query',
): T {
  const validate = compile(where === 'query' ? queryAjv : ajv, schema);
  const copy = { ...value };
  if (!validate(copy)) throw validationError(where, validate.errors ?? []);
  return copy as T;
}

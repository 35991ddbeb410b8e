import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { eventSchemas } from '../../schemas/events.ts';
import { InvalidEventError } from './errors.ts';

// ajv-formats is CommonJS: `.default` is its plugin, as in platform/http and platform/config.
const ajv = addFormats.default(new Ajv({ allErrors: true, strict: false }));
const validators = new Map<string, ValidateFunction>();

/** Throws InvalidEventError unless `data` matches the schema of `type`; unknown types are refused. */
export function validateEvent(
  type: string,
  data: unknown,
): asserts data is Record<string, unknown> {
  let validate = validators.get(type);
  if (!validate) {
    const schema = eventSchemas[type];
    if (!schema) throw new InvalidEventError(type, [{ message: 'unknown event type' }]);
    validate = ajv.compile(schema);
    validators.set(type, validate);
  }
  if (!validate(data)) throw new InvalidEventError(type, validate.errors);
}

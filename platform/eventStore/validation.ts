import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { eventSchemas } from '../../schemas/events.ts';
import { InvalidEventError } from './errors.ts';

// ajv-formats is CommonJS; its default export is the plugin function.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
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

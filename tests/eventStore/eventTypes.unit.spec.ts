// Each decider's event type (domain/) against the JSON Schema the event store validates
// appends with (schemas/events.ts): the same type strings, the same data fields, the same
// required ones. platform/eventStore/typed.ts relies on this to read a stream as the
// decider's events without casting at every call.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { eventSchemas } from '../../schemas/events.ts';

const root = path.resolve(import.meta.dirname, '../..');
const entry = path.join(root, 'domain/index.ts');
const program = ts.createProgram([entry], {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  allowImportingTsExtensions: true,
  noEmit: true,
  strict: true,
  skipLibCheck: true,
});
const checker = program.getTypeChecker();

interface Described {
  type: string;
  fields: Map<string, boolean>;
}

/** Every member of every exported `…Event` union of domain/: its type string and data fields (name → required). */
function domainEvents(): Map<string, Described[]> {
  const source = program.getSourceFile(entry)!;
  const module = checker.getSymbolAtLocation(source)!;
  const out = new Map<string, Described[]>();
  for (const symbol of checker.getExportsOfModule(module)) {
    if (!/^[A-Z][A-Za-z]*Event$/.test(symbol.name)) continue;
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    if (!(target.flags & ts.SymbolFlags.TypeAlias)) continue;
    const union = checker.getDeclaredTypeOfSymbol(target);
    const members = union.isUnion() ? union.types : [union];
    const described: Described[] = [];
    for (const member of members) {
      const typeProp = member.getProperty('type');
      const dataProp = member.getProperty('data');
      if (!typeProp || !dataProp) continue;
      const literal = checker.getTypeOfSymbol(typeProp);
      if (!literal.isStringLiteral()) continue;
      const data = checker.getTypeOfSymbol(dataProp);
      const fields = new Map<string, boolean>();
      for (const p of checker.getPropertiesOfType(data)) {
        fields.set(p.name, (p.flags & ts.SymbolFlags.Optional) === 0);
      }
      described.push({ type: literal.value, fields });
    }
    if (described.length) out.set(symbol.name, described);
  }
  return out;
}

describe('domain event types and schemas/events.ts', () => {
  const events = domainEvents();

  it('finds the deciders’ event unions', () => {
    for (const name of ['MessageEvent', 'TemplateEvent', 'TenantEvent', 'UserEvent']) {
      assert.ok(events.has(name), name);
    }
  });

  for (const [union, members] of events) {
    it(`${union}: every event has a schema with the same fields and required fields`, () => {
      for (const { type, fields } of members) {
        const schema = eventSchemas[type] as
          { properties?: Record<string, unknown>; required?: string[] } | undefined;
        assert.ok(schema, `${type} has no schema`);
        const properties = Object.keys(schema.properties ?? {}).sort();
        assert.deepEqual([...fields.keys()].sort(), properties, `${type}: fields`);
        const required = [...fields]
          .filter(([, r]) => r)
          .map(([n]) => n)
          .sort();
        assert.deepEqual(required, [...(schema.required ?? [])].sort(), `${type}: required fields`);
      }
    });
  }
});

// The table of contents: every projection, by name.
import { auditLog, messageTimelines } from './mongoModels.ts';
import {
  inboundMessages,
  messageHistory,
  optOuts,
  signatures,
  templates,
  tenants,
  users,
} from './mysqlModels.ts';
import type { Projection } from './types.ts';

export const projections: readonly Projection[] = [
  messageHistory,
  templates,
  signatures,
  users,
  inboundMessages,
  tenants,
  optOuts,
  auditLog,
  messageTimelines,
];

export function projectionNamed(name: string): Projection | undefined {
  return projections.find((p) => p.name === name || `${p.name}@${p.version}` === name);
}

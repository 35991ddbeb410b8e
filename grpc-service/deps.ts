import type { CommandDeps } from '../command-service/index.ts';
import type { QueryDeps } from '../query-service/index.ts';

/** The gRPC API serves commands and queries on one port: it runs on both sides' clients. */
export type GrpcDeps = CommandDeps & QueryDeps;

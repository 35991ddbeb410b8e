// Paths of the query service (filled by the query side).
export const queryPaths: Record<string, unknown> = {};

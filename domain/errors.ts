// Expected failures of the domain: a stable string code, a message that says
// what to fix, and optional details. platform/errors maps codes to HTTP.
export class DomainError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'DomainError';
    this.code = code;
    this.details = details;
  }
}

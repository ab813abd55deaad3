/**
 * What a decider can refuse with. The HTTP layer maps each kind to a status; the domain only
 * says what went wrong.
 */
export type DomainErrorKind = 'invalid' | 'not_found' | 'forbidden' | 'conflict';

export class DomainError extends Error {
  constructor(readonly kind: DomainErrorKind, message: string, readonly context?: Record<string, unknown>) {
    super(message);
    this.name = 'DomainError';
  }
}

export const invalid = (message: string, context?: Record<string, unknown>) => new DomainError('invalid', message, context);
export const notFound = (message = 'resource not found') => new DomainError('not_found', message);
export const forbidden = (message = 'insufficient permissions', context?: Record<string, unknown>) => new DomainError('forbidden', message, context);
export const conflict = (message: string, context?: Record<string, unknown>) => new DomainError('conflict', message, context);

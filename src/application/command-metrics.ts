import { Counter, type Registry } from 'prom-client';
import { CommandIdReusedError, VersionConflictError } from '../events/errors.js';
import { DomainError } from '../commands/errors.js';

export type CommandOutcomeLabel = 'accepted' | 'unchanged' | 'replayed' | 'conflict' | 'refused' | 'failed';

const counters = new WeakMap<Registry, Counter<'stream_type' | 'outcome'>>();

/** One counter per registry (a process has one; tests start several services in one process). */
export function commandOutcomes(registry: Registry): Counter<'stream_type' | 'outcome'> {
  let counter = counters.get(registry);
  if (!counter) {
    counter = new Counter({
      name: 'tmi_commands_total',
      help: 'Commands by aggregate stream type and outcome: accepted (appended), unchanged (nothing to append), replayed (an idempotency key seen before), conflict (a version conflict), refused (the domain said no), failed',
      labelNames: ['stream_type', 'outcome'] as const,
      registers: [registry],
    });
    counters.set(registry, counter);
  }
  return counter;
}

/** What a command's failure counts as. */
export function failedOutcome(err: unknown): CommandOutcomeLabel {
  if (err instanceof VersionConflictError) return 'conflict';
  if (err instanceof DomainError || err instanceof CommandIdReusedError) return 'refused';
  return 'failed';
}

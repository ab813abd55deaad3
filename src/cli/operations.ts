import type { Command } from 'commander';
import type { Config } from '../config/schema.js';

/** Operator commands (projection status, dead letters, rebuilds) attach here. */
export function registerOperationsCommands(_program: Command, _config: () => Config): void {}

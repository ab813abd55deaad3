import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ENVIRONMENT_KEYS } from '../../src/config/load.js';

/**
 * No Docker engine runs where the suite runs, so the compose file is checked for what can be
 * checked without one: the production topology is there, with health checks, and every command
 * and variable it uses is one the service understands.
 */
describe('docker-compose.yml', () => {
  const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as {
    services: Record<string, { image?: string; command?: string[]; environment?: Record<string, string>; healthcheck?: unknown; depends_on?: Record<string, { condition: string }> }>;
  };
  const cli = readFileSync('src/cli/main.ts', 'utf8');

  it('runs postgres 16, redis 7 with AOF and noeviction, serve and worker, with health checks', () => {
    const { postgres, redis, serve, worker } = compose.services;
    expect(postgres?.image).toMatch(/^postgres:16/);
    expect(postgres?.healthcheck).toBeTruthy();
    expect(redis?.image).toMatch(/^redis:7/);
    expect(redis?.command?.join(' ')).toContain('--appendonly yes');
    expect(redis?.command?.join(' ')).toContain('--maxmemory-policy noeviction');
    expect(redis?.healthcheck).toBeTruthy();
    expect(serve?.command).toEqual(['serve']);
    expect(serve?.healthcheck).toBeTruthy();
    expect(serve?.environment?.TMI_RUN_PROJECTIONS).toBe('false');
    expect(worker?.command).toEqual(['worker']);
    expect(JSON.stringify(worker?.healthcheck)).toContain('127.0.0.1:9464/readyz');
    for (const app of [serve, worker]) {
      expect(app?.depends_on?.postgres?.condition).toBe('service_healthy');
      expect(app?.depends_on?.redis?.condition).toBe('service_healthy');
    }
  });

  it('uses only commands and environment variables the service knows', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      if (!service.command || name === 'redis') continue;
      expect(cli).toContain(`command('${service.command[0]}')`);
      for (const key of Object.keys(service.environment ?? {})) expect(Object.keys(ENVIRONMENT_KEYS)).toContain(key);
    }
  });
});

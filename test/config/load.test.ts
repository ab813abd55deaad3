import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';

describe('configuration', () => {
  it('applies defaults with no input', () => {
    const c = loadConfig({ env: {} });
    expect(c.server.port).toBe(8080);
    expect(c.server.worker_metrics_port).toBe(9464);
    expect(c.database.url).toBeUndefined();
    expect(c.auth.jwt.expiration_seconds).toBe(3600);
  });

  it('reads environment variables, converting types by the schema', () => {
    const c = loadConfig({ env: { PORT: '9000', TMI_WORKER_METRICS_PORT: '0', TMI_RUN_PROJECTIONS: 'false', DATABASE_URL: 'postgres://x/y', LOG_LEVEL: 'debug' } });
    expect(c.server.port).toBe(9000);
    expect(c.server.worker_metrics_port).toBe(0);
    expect(c.server.run_projections).toBe(false);
    expect(c.database.url).toBe('postgres://x/y');
    expect(c.logging.level).toBe('debug');
  });

  it('reads a YAML file with TMI sections, and the environment wins over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tmi-config-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'server:\n  port: 7000\n  public_url: https://tmi.example.com\nlogging:\n  level: warn\n');
    const c = loadConfig({ file, env: { PORT: '7001' } });
    expect(c.server.port).toBe(7001);
    expect(c.server.public_url).toBe('https://tmi.example.com');
    expect(c.logging.level).toBe('warn');
    rmSync(dir, { recursive: true, force: true });
  });

  it('names every offending key in one error', () => {
    let err: unknown;
    try {
      loadConfig({ env: { PORT: 'eighty', LOG_LEVEL: 'loud', JWT_SECRET: 'short' }, overrides: { server: { nonsense: true } } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    for (const key of ['server.port', 'logging.level', 'auth.jwt.secret', 'server.nonsense']) expect(message).toContain(key);
  });

  it('reports an unreadable file by name', () => {
    expect(() => loadConfig({ file: '/nonexistent/tmi.yaml', env: {} })).toThrow(/\/nonexistent\/tmi.yaml/);
  });

  it('refuses the development JWT secret in production', () => {
    expect(() => loadConfig({ env: { TMI_MODE: 'production' } })).toThrow(/auth.jwt.secret/);
  });
});

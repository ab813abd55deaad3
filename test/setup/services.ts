import net from 'node:net';
import pg from 'pg';

/** Where the tests find PostgreSQL and Redis: env URLs, then local ports, then testcontainers (imported lazily). */
export interface TestServices {
  postgresUrl: string;
  redisUrl: string;
  stop(): Promise<void>;
}

const canConnect = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 1000 });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
  });

async function postgresAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export async function findTestServices(): Promise<TestServices> {
  const stops: (() => Promise<void>)[] = [];
  let postgresUrl = process.env.TEST_DATABASE_URL;
  if (!postgresUrl) {
    const local = 'postgres://postgres@127.0.0.1:5432/postgres';
    if (await canConnect('127.0.0.1', 5432) && await postgresAnswers(local)) {
      postgresUrl = local;
    } else {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const container = await new PostgreSqlContainer('postgres:16-alpine').start();
      postgresUrl = container.getConnectionUri();
      stops.push(async () => { await container.stop(); });
    }
  }
  let redisUrl = process.env.TEST_REDIS_URL;
  if (!redisUrl) {
    if (await canConnect('127.0.0.1', 6379)) {
      redisUrl = 'redis://127.0.0.1:6379';
    } else {
      const { RedisContainer } = await import('@testcontainers/redis');
      const container = await new RedisContainer('redis:7-alpine').start();
      redisUrl = container.getConnectionUrl();
      stops.push(async () => { await container.stop(); });
    }
  }
  return { postgresUrl, redisUrl, stop: async () => { for (const s of stops) await s(); } };
}

import { createHash, randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import pg from 'pg';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/runtime.js';
import { BARE_PROGRESS_CHANNEL } from './schema.js';

/**
 * The physical limit the service is measured against: the same Fastify, the same JSON body
 * parser, the same pino logger at the same level (request logging included), and one SQL
 * statement per request on a pool the size of the service's. No authentication, validation,
 * decider, event catalog or wake-ups. Run as a process of its own, like the service.
 *
 * Environment: BARE_DATABASE_URL, PORT, LOG_LEVEL, BARE_PROJECTOR=true to run the one-table
 * projector that `POST /threat_models` wakes (for the lag bench).
 */
const log = createLogger(loadConfig({ env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' } }));
const pool = new pg.Pool({
  connectionString: process.env.BARE_DATABASE_URL,
  max: Number(process.env.BARE_POOL_SIZE ?? 10),
  application_name: 'tmi-bench-bare',
});
pool.on('error', () => {});

const BATCH = 500;

/**
 * The least a projection can do: woken in-process after each insert, one transaction per batch
 * that reads the new rows, writes a read row each, moves its checkpoint and NOTIFYs progress.
 * No queue, no advisory lock, no gap-safe horizon (a sequence may commit out of order; this
 * one does not care).
 */
class BareProjector {
  private running = false;
  private again = false;

  wake(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        while ((await this.batch()) === BATCH);
      } while (this.again);
    } catch (err) {
      log.error({ err }, 'bare projector failed; retrying');
      await new Promise((r) => setTimeout(r, 100));
      this.again = true;
    } finally {
      this.running = false;
      if (this.again) this.wake();
    }
  }

  private async batch(): Promise<number> {
    const client = await pool.connect();
    try {
      await client.query('begin');
      const { rows: cp } = await client.query<{ position: string }>("select position from bare_checkpoint where name = 'bare' for update");
      const { rows } = await client.query<{ position: string; data: { threat_model_id: string; name: string } }>(
        'select position, data from bare_events where position > $1 order by position limit $2', [cp[0]!.position, BATCH]);
      if (rows.length > 0) {
        const last = rows[rows.length - 1]!.position;
        await client.query(
          `insert into bare_read (id, name, data, position) select * from unnest($1::uuid[], $2::text[], $3::jsonb[], $4::bigint[])
           on conflict (id) do update set name = excluded.name, data = excluded.data, position = excluded.position`,
          [rows.map((r) => r.data.threat_model_id), rows.map((r) => r.data.name), rows.map((r) => JSON.stringify(r.data)), rows.map((r) => r.position)]);
        await client.query("update bare_checkpoint set position = $1 where name = 'bare'", [last]);
        await client.query('select pg_notify($1, $2)', [BARE_PROGRESS_CHANNEL, `bare:${last}`]);
      }
      await client.query('commit');
      return rows.length;
    } catch (err) {
      await client.query('rollback').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }
}

const projector = process.env.BARE_PROJECTOR === 'true' ? new BareProjector() : null;

const app = Fastify({ loggerInstance: log as unknown as FastifyBaseLogger, genReqId: () => randomUUID() });

app.get('/healthz', async () => ({ status: 'ok' }));

const INSERT = {
  name: 'bare_insert',
  // hash is NOT NULL since the hash chain; a sha256 of the payload keeps the row as wide as the
  // service's without its chain lookup (the bare server checks nothing).
  text: `insert into bare_events (event_id, stream_id, stream_type, version, type, schema_version, data, metadata, hash)
         values ($1, $2, 'threat_model', 1, 'ThreatModelCreated', 1, $3, $4, $5) returning position`,
};

/** One INSERT of an event row shaped like the service's ThreatModelCreated; 201, or 202 when asked to respond async. */
app.post('/threat_models', async (request, reply) => {
  const input = request.body as { name: string; description?: string | null; threat_model_framework?: string };
  const id = randomUUID();
  const now = new Date().toISOString();
  const user = { principal_type: 'user', provider: 'tmi', provider_id: 'bench-writer', display_name: 'bench-writer', email: 'bench-writer@tmi.local' };
  const data = {
    threat_model_id: id, alias: 0, name: input.name, description: input.description ?? null,
    threat_model_framework: input.threat_model_framework ?? 'STRIDE', issue_uri: null, project_id: null, status: 'Not Started',
    status_updated: now, security_reviewer: null, is_confidential: false, owner: user, created_by: user,
    authorization: [{ ...user, role: 'owner' }], created_at: now,
  };
  const metadata = { actor: { user_id: null, email: user.email, provider: 'tmi' }, trace_id: null, correlation_id: null, causation_id: null, request_id: request.id };
  const json = JSON.stringify(data);
  const hash = createHash('sha256').update(json).digest();
  const { rows } = await pool.query<{ position: string }>({ ...INSERT, values: [randomUUID(), `threat_model-${id}`, json, JSON.stringify(metadata), hash] });
  projector?.wake();
  const async = /respond-async/i.test(String(request.headers.prefer ?? ''));
  reply.header('Location', `/threat_models/${id}`).header('ETag', '"1"').header('X-Event-Position', rows[0]!.position);
  return reply.code(async ? 202 : 201).send({ id, ...data, modified_at: now, version: 1 });
});

const LIST = {
  name: 'bare_list',
  // The columns of the service's list item (TMI's TMListItem), so both answers are about the same size.
  text: `select t.id, t.alias, t.name, t.description, t.created_at, t.modified_at, t.owner, t.created_by, t.threat_model_framework,
                t.document_count, t.repo_count, t.diagram_count, t.threat_count, t.asset_count, t.note_count,
                t.issue_uri, t.status, t.status_updated, t.security_reviewer, t.deleted_at
         from (select id, modified_at from bare_readable where subject = $1 order by modified_at desc, id limit 20) p
         join threat_models t on t.id = p.id order by p.modified_at desc, p.id`,
};

/** The 20 newest of a subject's readable rows: one range scan of a covering index, 20 primary-key lookups. */
app.get('/list', async (request) => {
  const { subject } = request.query as { subject: string };
  const { rows } = await pool.query({ ...LIST, values: [subject] });
  return { threat_models: rows, limit: 20, offset: 0 };
});

const THREATS = {
  name: 'bare_threats',
  // The service's columns for a child row; its metadata query is left out (the page's threats rarely have any).
  text: `select id, threat_model_id, alias, fields, auto_generated, version, created_at, modified_at, deleted_at from threats
         where threat_model_id = $1 and severity = $2 and deleted_at is null order by score desc nulls last, id desc limit 20`,
};

/** A page of one parent's threats of one severity by score: one range scan of the (parent, severity, score) index. */
app.get('/threats', async (request) => {
  const { threat_model_id, severity } = request.query as { threat_model_id: string; severity: string };
  const { rows } = await pool.query({ ...THREATS, values: [threat_model_id, severity] });
  return { threats: rows, limit: 20, offset: 0 };
});

const close = async () => {
  await app.close();
  await pool.end();
  process.exit(0);
};
process.on('SIGTERM', () => void close());
process.on('SIGINT', () => void close());

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
log.info({ port: process.env.PORT }, 'bare server started');

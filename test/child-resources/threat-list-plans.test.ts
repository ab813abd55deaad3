import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { threatRefinement, type ListThreatsQuery } from '../../src/http/children/threats.js';
import { listChildren, listChildrenSql } from '../../src/queries/child-resources.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

// The threats list of a parent with 10,000 threats must read a page of 20 in index order, not
// every threat of the parent: each case below is the exact statement the route runs, and
// EXPLAIN ANALYZE counts the rows its page part read (a count, not a time) and shows whether
// its total was counted from an index alone. The
// read table is filled with SQL in the projector's row shape: what is tested is the table's
// indexes and the list's SQL; the projector that writes these rows is tested on its own.

const PARENT = '0190f0a0-0000-7000-8000-000000000001';
const OTHER = '0190f0a0-0000-7000-8000-000000000002';
const N = 10_000;
// A page of 20 read in index order, its filter passing one row in ten or more: well under this.
// A statement that reads every threat of the parent to sort or count them reads 9,000 or more.
const MAX_ROWS_READ = 500;
const SEVERITIES = ['Critical', 'High', 'Medium', 'Low', 'Informational', 'Unknown'];
const RANK: Record<string, number> = { critical: 5, high: 4, medium: 3, low: 2, informational: 1, unknown: 0 };

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
  // Some fields unset on some threats, so every nullable sort key has threats sorting last; one in
  // a hundred deleted; a second parent with threats of its own that must never show.
  await database.pool.query(`
    insert into threats (id, threat_model_id, alias, fields, auto_generated, version, created_at, modified_at, deleted_at)
    select ('0190f0a1-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, case when i % 50 = 0 then $2::uuid else $1::uuid end, i,
      jsonb_strip_nulls(jsonb_build_object(
        'name', 'Threat ' || (i * 7919 % $3),
        'severity', case when i % 7 = 0 then null else ($4::text[])[1 + i % 6] end,
        'score', case when i % 11 = 0 then null else ((i * 37) % 101) / 10.0 end,
        'priority', case when i % 5 = 0 then null else 'P' || (i / 6 % 4) end,
        'status', case when i % 3 = 0 then null else (array['Open', 'Mitigated', 'Accepted'])[1 + i / 3 % 3] end,
        'mitigated', i % 4 = 0,
        'diagram_id', case when i % 100 = 1 then '0190f0a2-0000-7000-8000-00000000000' || (i % 10) end,
        'cell_id', case when i % 100 = 1 then '0190f0a3-0000-7000-8000-00000000000' || (i % 10) end,
        'threat_type', jsonb_build_array('Tampering'))),
      false, 1, timestamptz '2026-01-01' + i * interval '1 minute' - (i % 10) * interval '1 minute',
      timestamptz '2026-06-01' + ((i * 104729) % $3) * interval '1 second', case when i % 100 = 99 then now() end
    from generate_series(1, $3) i`, [PARENT, OTHER, N, SEVERITIES]);
  // Other parents' threats outnumber this one's, as in any real table: reading the whole table is never the cheap way to one parent.
  await database.pool.query(`
    insert into threats (id, threat_model_id, alias, fields, auto_generated, version, created_at, modified_at)
    select ('0190f0a4-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, ('0190f0a5-0000-7000-8000-' || lpad(to_hex(i % 50), 12, '0'))::uuid, i,
      jsonb_build_object('name', 'Elsewhere ' || i, 'severity', 'High', 'score', 5, 'threat_type', jsonb_build_array()), false, 1, now(), now()
    from generate_series(1, 5 * $1::int) i`, [N]);
  await database.pool.query('vacuum analyze threats');
});

afterAll(async () => {
  await database.drop();
});

const options = (q: Partial<ListThreatsQuery>, offset = 0) => ({ limit: 20, offset, includeDeleted: false, refinement: threatRefinement(q as ListThreatsQuery) });

interface PlanNode {
  'Node Type': string; 'Parent Relationship'?: string; 'Relation Name'?: string; 'Actual Rows': number; 'Actual Loops': number;
  'Rows Removed by Filter'?: number; 'Heap Fetches'?: number; Plans?: PlanNode[];
}
const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];
/** The page part of the plan: everything but the once-run subquery that counts the total. */
const pagePart = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).filter((c) => c['Parent Relationship'] !== 'InitPlan').flatMap(pagePart)];
const countPart = (n: PlanNode): PlanNode[] => nodes(n).filter((c) => c['Parent Relationship'] === 'InitPlan').flatMap(nodes);

async function explain(q: Partial<ListThreatsQuery>, offset = 0): Promise<{ rowsRead: number; pageNodes: string[]; countNodes: PlanNode[] }> {
  const { page } = listChildrenSql({ plural: 'threats' }, PARENT, options(q, offset));
  const { rows } = await database.pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`explain (analyze, format json) ${page.text}`, page.values);
  const plan = rows[0]!['QUERY PLAN'][0].Plan;
  const scans = pagePart(plan).filter((n) => n['Relation Name'] === 'threats');
  const rowsRead = scans.reduce((sum, n) => sum + (n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0)) * n['Actual Loops'], 0);
  return { rowsRead, pageNodes: pagePart(plan).map((n) => n['Node Type']), countNodes: countPart(plan) };
}

/** The total came from an index alone: no table scan, no heap fetch (the table is vacuumed, as autovacuum keeps a live one). */
function expectIndexOnlyCount(countNodes: PlanNode[]): void {
  const scans = countNodes.filter((n) => n['Relation Name'] === 'threats');
  expect(scans.map((n) => n['Node Type'])).toEqual(['Index Only Scan']);
  expect(scans[0]!['Heap Fetches']).toBe(0);
}

interface Live { id: string; name: string; severity: string | null; score: number | null; priority: string | null; status: string | null; created_at: Date; modified_at: Date; mitigated: boolean }

/** The list's order, computed here from all live threats: unset values last either way, ties by id in the last term's direction. */
async function expectedOrder(key: keyof Live, dir: 'asc' | 'desc', keep: (t: Live) => boolean = () => true): Promise<string[]> {
  const { rows } = await database.pool.query<Live>(
    `select id, lower(name) as name, severity, score::float8 as score, priority, status, created_at, modified_at, mitigated from threats
     where threat_model_id = $1 and deleted_at is null`, [PARENT]);
  const value = (t: Live): number | string | null => {
    const v = key === 'severity' ? (t.severity === null ? null : RANK[t.severity]!) : t[key];
    return v instanceof Date ? v.getTime() : (v as number | string | null);
  };
  const sign = dir === 'asc' ? 1 : -1;
  const cmp = (a: Live, b: Live): number => {
    const [x, y] = [value(a), value(b)];
    if (x === null || y === null) return x === y ? sign * a.id.localeCompare(b.id) : x === null ? 1 : -1;
    // PostgreSQL's text order for these ASCII labels is byte order.
    if (x !== y) return sign * (x < y ? -1 : 1);
    return sign * a.id.localeCompare(b.id);
  };
  return rows.filter(keep).sort(cmp).map((t) => t.id);
}

const SORTS = ['created_at', 'modified_at', 'name', 'severity', 'score', 'priority', 'status'] as const;

describe('threats list of a parent with 10,000 threats', () => {
  for (const key of SORTS) {
    for (const dir of ['asc', 'desc'] as const) {
      it(`sort=${key}:${dir} reads a page by an index, in the list's order, with the exact total`, async () => {
        const q = { sort: `${key}:${dir}` };
        const { rowsRead, pageNodes, countNodes } = await explain(q);
        expect(pageNodes).not.toContain('Sort');
        expect(rowsRead).toBeLessThan(MAX_ROWS_READ);
        expectIndexOnlyCount(countNodes);
        const expected = await expectedOrder(key, dir);
        const page = await listChildren(database.pool, { kind: 'threat', plural: 'threats' }, PARENT, options(q, 40));
        expect(page.items.map((t) => t.id)).toEqual(expected.slice(40, 60));
        expect(page.total).toBe(expected.length);
      });
    }
  }

  const FILTERS: [string, Partial<ListThreatsQuery>, (t: Live) => boolean][] = [
    ['severity=high&sort=score:desc', { severity: ['high'], sort: 'score:desc' }, (t) => t.severity === 'high'],
    ['severity=high,critical&sort=score:desc', { severity: ['high', 'critical'], sort: 'score:desc' }, (t) => t.severity === 'high' || t.severity === 'critical'],
    ['status=open', { status: ['open'] }, (t) => t.status === 'open'],
    ['priority=p1&sort=severity:desc', { priority: ['p1'], sort: 'severity:desc' }, (t) => t.priority === 'p1'],
    ['mitigated=false&sort=modified_at:desc', { mitigated: false, sort: 'modified_at:desc' }, (t) => !t.mitigated],
    ['score_ge=5&sort=score:asc', { score_ge: 5, sort: 'score:asc' }, (t) => t.score !== null && t.score >= 5],
  ];
  for (const [label, q, keep] of FILTERS) {
    it(`${label} reads a page by an index, with the exact total`, async () => {
      // A selective filter may rightly be read by its own index and its few rows sorted: the rows read tell.
      const { rowsRead, countNodes } = await explain(q);
      expect(rowsRead).toBeLessThan(MAX_ROWS_READ);
      expectIndexOnlyCount(countNodes);
      const [key, dir] = (q.sort ?? 'created_at:desc').split(':') as [keyof Live, 'asc' | 'desc'];
      const expected = await expectedOrder(key, dir, keep);
      const page = await listChildren(database.pool, { kind: 'threat', plural: 'threats' }, PARENT, options(q));
      expect(page.items.map((t) => t.id)).toEqual(expected.slice(0, 20));
      expect(page.total).toBe(expected.length);
    });
  }

  it('diagram_id and cell_id find their few threats by an index', async () => {
    const q = { diagram_id: '0190F0A2-0000-7000-8000-000000000001', cell_id: '0190f0a3-0000-7000-8000-000000000001' };
    // PostgreSQL 15 reads an expression index (lower(diagram_id)) index-only for no query, so the count visits the few rows too.
    const { rowsRead } = await explain(q);
    expect(rowsRead).toBeLessThan(MAX_ROWS_READ);
    const page = await listChildren(database.pool, { kind: 'threat', plural: 'threats' }, PARENT, options(q));
    expect(page.total).toBe(N / 100);
    expect(page.items).toHaveLength(20);
  });

  it('a page past the end is empty and still carries the total', async () => {
    const page = await listChildren(database.pool, { kind: 'threat', plural: 'threats' }, PARENT, options({ severity: ['high'] }, N));
    expect(page.items).toEqual([]);
    expect(page.total).toBe((await expectedOrder('created_at', 'desc', (t) => t.severity === 'high')).length);
  });
});

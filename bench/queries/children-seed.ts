import type { Pool } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { childStreamId, initialChildState, type ChildAggregate, type ChildInput } from '../../src/commands/child-resources/index.js';
import { CHILD_AGGREGATES } from '../../src/commands/children.js';
import type { EventStore } from '../../src/events/store.js';
import type { EventMetadata, StreamAppend } from '../../src/events/types.js';

const STREAMS_PER_APPEND = 1000;
const SEVERITIES = ['Critical', 'High', 'Medium', 'Low', 'Informational', 'Unknown'] as const;
/** The kinds of the full body and how many of each in every 20 children (threats the most, as in real models). */
const MIX: Record<string, number> = { threat: 8, document: 4, repository: 3, note: 3, asset: 2 };

const aggregateOf = (kind: string): ChildAggregate<object> => {
  const found = CHILD_AGGREGATES.find((a) => a.resource.kind === kind);
  if (!found) throw new Error(`no child kind ${kind}`);
  return found as unknown as ChildAggregate<object>;
};

/** The n-th threat: severities in turn, scores spread over 0.0–10.0 and not in step with them, two metadata entries on every fifth. */
export function threatInput(n: number): ChildInput {
  return {
    name: `Seeded threat ${n}`,
    description: 'A threat written by the queries bench seed, with a description about as long as a real one.',
    threat_type: ['Tampering'],
    severity: SEVERITIES[n % SEVERITIES.length]!,
    score: ((n * 37) % 101) / 10,
    mitigated: n % 3 === 0,
    ...(n % 5 === 0 ? { metadata: [{ key: 'source', value: 'bench' }, { key: 'row', value: String(n) }] } : {}),
  };
}

const INPUTS: Record<string, (n: number) => ChildInput> = {
  threat: threatInput,
  document: (n) => ({ name: `Document ${n}`, uri: `https://docs.example.com/${n}.pdf`, metadata: [{ key: 'source', value: 'bench' }] }),
  repository: (n) => ({ name: `repo-${n}`, uri: `https://github.com/example/repo-${n}`, type: 'git' }),
  note: (n) => ({ name: `Note ${n}`, content: `# Finding ${n}\n\nA note about as long as a short real one.\n` }),
  asset: (n) => ({ name: `Asset ${n}`, type: 'data', metadata: [{ key: 'source', value: 'bench' }] }),
};

/** The kind of the i-th child of the full body's threat model, following MIX. */
function kindAt(i: number): string {
  let slot = i % 20;
  for (const [kind, n] of Object.entries(MIX)) {
    if (slot < n) return kind;
    slot -= n;
  }
  throw new Error('MIX must add up to 20');
}

interface ChildPlan { threatModelId: string; kind: string; input: ChildInput }

/**
 * Creates children through their real decider (one `…Created` each, plus the metadata events a
 * create with metadata makes), `STREAMS_PER_APPEND` new streams per `appendToStreams`, 10 ms
 * of `created_at` apart from `start` (after every seeded threat model); then sets each (threat model, kind) alias counter to the last
 * alias drawn, as the command side would have left it.
 */
async function appendChildren(pool: Pool, store: EventStore, plans: ChildPlan[], start: number, metadata: EventMetadata): Promise<void> {
  const aliases = new Map<string, number>();
  for (let from = 0; from < plans.length; from += STREAMS_PER_APPEND) {
    const appends: StreamAppend[] = plans.slice(from, from + STREAMS_PER_APPEND).map((plan, j) => {
      const { decider, resource } = aggregateOf(plan.kind);
      const key = `${plan.threatModelId}\u0000${plan.kind}`;
      const alias = (aliases.get(key) ?? 0) + 1;
      aliases.set(key, alias);
      const id = uuidv7();
      const now = new Date(start + (from + j) * 10).toISOString();
      const events = decider.decide({ type: 'Create', role: 'owner', threat_model_id: plan.threatModelId, now, id, alias, input: plan.input, auto_generated: false }, initialChildState());
      return { stream_id: childStreamId(resource.kind, id), stream_type: resource.kind, expected: 'no_stream', events };
    });
    await store.appendToStreams(appends, { metadata });
  }
  for (const [key, last] of aliases) {
    const [threatModelId, kind] = key.split('\u0000');
    await pool.query('insert into child_aliases (threat_model_id, kind, last_alias) values ($1, $2, $3)', [threatModelId, kind, last]);
  }
}

export interface ChildSeedParameters { threats: number; children: number }

/**
 * `threats` threats under one threat model (the threats list's parent) and `children` children of
 * every kind under another (the full body's), both threat models the bench reader owns.
 */
export async function seedChildren(pool: Pool, store: EventStore, targets: { threats: string; full: string }, params: ChildSeedParameters, start: number, metadata: EventMetadata): Promise<void> {
  const plans: ChildPlan[] = [
    ...Array.from({ length: params.threats }, (_, n) => ({ threatModelId: targets.threats, kind: 'threat', input: threatInput(n) })),
    ...Array.from({ length: params.children }, (_, n) => ({ threatModelId: targets.full, kind: kindAt(n), input: INPUTS[kindAt(n)]!(n) })),
  ];
  await appendChildren(pool, store, plans, start, metadata);
}

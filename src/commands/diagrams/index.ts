import { Type, type Static } from '@sinclair/typebox';
import { childAggregate } from '../child-resources/index.js';
import { ReportFlags, defineChildResource, orNull, reportFlags } from '../child-resources/fields.js';
import { ChildName, InputMetadata, Nullable } from '../child-resources/values.js';
import { invalid } from '../errors.js';
import { applyCellChanges, diagramOperationEventDefinitions, type DiagramCellsPatchedData } from './operations.js';
import { InputCell, MAX_CELLS, StoredCell, checkCells, normalizeCell, type StoredCell as Cell } from './cells.js';

export * from './cells.js';
export * from './operations.js';

export const DIAGRAM_TYPES = ['DFD-1.0.0'] as const;

/** A diagram's picture as its client rendered it: base64 SVG and the update vector it shows. */
export const DiagramImage = Type.Object({
  svg: Type.Optional(Type.String({ maxLength: 102_400, pattern: '^[A-Za-z0-9+/]*=*$' })),
  update_vector: Type.Optional(Type.Integer({ minimum: 0 })),
}, { additionalProperties: false });

/** The contract's ColorPaletteEntry as a client sends it: #RGB or #RRGGBB, any case. */
export const ColorPaletteEntry = Type.Object({
  position: Type.Integer({ minimum: 1, maximum: 8 }),
  color: Type.String({ minLength: 4, maxLength: 7, pattern: '^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$' }),
}, { additionalProperties: false });
/** …and as stored: lowercase #rrggbb, as the contract says TMI keeps it. */
const StoredColorPaletteEntry = Type.Object({ position: ColorPaletteEntry.properties.position, color: Type.String({ pattern: '^#[0-9a-f]{6}$' }) }, { additionalProperties: false });

/** A diagram's writable fields (TMI's DfdDiagramInput), as stored: cells in their stored form, absent members null. */
export const DiagramFields = Type.Object({
  name: ChildName,
  type: Type.Union(DIAGRAM_TYPES.map((t) => Type.Literal(t))),
  cells: Type.Array(StoredCell, { maxItems: MAX_CELLS }),
  image: Nullable(DiagramImage),
  color_palette: Nullable(Type.Array(StoredColorPaletteEntry, { maxItems: 8 })),
  ...ReportFlags,
}, { additionalProperties: false });
export type DiagramFields = Omit<Static<typeof DiagramFields>, 'cells'> & { cells: Cell[] };

const expandColor = (color: string) => (color.length === 4 ? `#${[...color.slice(1)].map((c) => c + c).join('')}` : color).toLowerCase();

/** A palette as stored; what is not a list of entries is returned as it is, for the fields' schema to refuse. */
function palette(entries: unknown): unknown {
  if (!Array.isArray(entries)) return orNull(entries);
  return entries.map((e: unknown) => (typeof e === 'object' && e !== null && typeof (e as { color?: unknown }).color === 'string'
    ? { ...e, color: expandColor((e as { color: string }).color) } : e));
}

export const diagramResource = defineChildResource('diagram', 'diagrams', DiagramFields, {
  required: ['name', 'type', 'cells'],
  members: {
    cells: Type.Array(InputCell, { maxItems: MAX_CELLS }),
    color_palette: Type.Optional(Nullable(Type.Array(ColorPaletteEntry, { maxItems: 8 }))),
    // The contract's limit on a diagram's metadata (100 for the other kinds).
    metadata: InputMetadata(10_000),
  },
}, (i) => ({
  name: i.name!,
  type: i.type!,
  cells: (Array.isArray(i.cells) ? i.cells.map(normalizeCell) : i.cells ?? []) as Cell[],
  image: orNull(i.image),
  color_palette: palette(i.color_palette) as DiagramFields['color_palette'],
  ...reportFlags(i),
}), {
  check(fields) {
    checkCells(fields.cells as unknown as Cell[]);
    const positions = new Set(fields.color_palette?.map((e) => e.position));
    if (fields.color_palette && positions.size !== fields.color_palette.length) throw invalid('color_palette: each position may appear once');
  },
  // TMI: only the owner deletes a diagram.
  deleteRole: 'owner',
  // The contract's limit on a diagram's metadata (100 for the other kinds).
  maxMetadata: 10_000,
  fieldEvents: {
    definitions: diagramOperationEventDefinitions,
    apply: (fields, event) => ({ ...fields, cells: applyCellChanges(fields.cells as unknown as Cell[], (event.data as DiagramCellsPatchedData).cells) as typeof fields.cells }),
  },
});

/**
 * A diagram's stream grows by every realtime operation, so its fold is snapshotted. Bump the
 * version with any change to what the fold makes (child-resources/state.ts, operations.ts, the
 * fields above); test/events/snapshot-versions.test.ts pins those files to it.
 */
export const DIAGRAM_STATE_VERSION = 1;
const DIAGRAM_SNAPSHOT_EVERY = 200;

export const diagrams = childAggregate(diagramResource, { snapshot: { version: DIAGRAM_STATE_VERSION, every: DIAGRAM_SNAPSHOT_EVERY } });

import { Type, type TProperties, type TSchema } from '@sinclair/typebox';
import { invalid } from '../errors.js';
import { Nullable } from '../child-resources/values.js';
import { Metadata, UUID_PATTERN } from '../threat-models/values.js';

/**
 * The cells of a DFD-1.0.0 diagram: the contract's `Node` and `Edge` (X6's cell JSON) with
 * their limits. A node is stored in the flat form (x, y, width, height), which is what the
 * contract says TMI always answers with; its input may instead use X6's `position` and `size`
 * objects (`normalizeCell`). Members a cell has beyond the contract's are dropped, as TMI drops
 * them: the contract leaves cells open, so a client sending X6 extras is not refused for them.
 */

// The contract gives cell ids both `format: uuid` and a looser pattern; a cell id is what satisfies both.
const CellId = Type.String({ maxLength: 36, pattern: UUID_PATTERN });
const NO_CONTROL = '^[^\\x00-\\x1F]*$';
const Color = Type.String({ maxLength: 32, pattern: '^(#[0-9a-fA-F]*|#[0-9a-fA-F]*|rgb\\( *[0-9]+ *, *[0-9]+ *, *[0-9]+ *\\)|[a-z]+)$' });
const DashArray = Nullable(Type.String({ maxLength: 64, pattern: '^$|^[0-9]+(\\\\.[0-9]+)?(,[0-9]+(\\\\.[0-9]+)?)*$' }));
const Percent = Type.Union([Type.Number(), Type.String({ pattern: '^\\d+%$' })]);
const FontFamily = Type.String({ maxLength: 64, pattern: "^[a-zA-Z0-9 ,'-]*$" });
const closed = (properties: TProperties) => Type.Object(properties, { additionalProperties: false });
const optional = (properties: Record<string, TSchema>): TProperties =>
  Object.fromEntries(Object.entries(properties).map(([k, s]) => [k, Type.Optional(s)]));
/** An object the contract leaves open: its own members are kept, and answered (a response schema drops undeclared members otherwise). */
const open = (properties: TProperties = {}) => Type.Object(properties, { additionalProperties: true });
const OneOf = (values: readonly string[], options: object = {}) => Type.Union(values.map((v) => Type.Literal(v)), options);

export const NODE_SHAPES = ['actor', 'process', 'store', 'security-boundary', 'text-box'] as const;
export const EDGE_SHAPE = 'flow';

const TextStyle = {
  text: Type.String({ maxLength: 256, pattern: NO_CONTROL }), fontSize: Type.Number({ minimum: 1 }), fill: Color, fontFamily: FontFamily,
};

const NodeAttrs = closed(optional({
  body: closed(optional({
    fill: Color, stroke: Color, strokeWidth: Type.Number({ minimum: 0 }), strokeDasharray: DashArray, rx: Type.Number({ minimum: 0 }),
    ry: Type.Number({ minimum: 0 }), lateral: Type.Number(), refWidth: Percent, refHeight: Percent, fillOpacity: Type.Number({ minimum: 0, maximum: 1 }),
  })),
  text: closed(optional({
    ...TextStyle, refX: Percent, refY: Percent, refDx: Type.Number(), refDy: Type.Number(), refX2: Percent, refY2: Percent,
    textAnchor: OneOf(['start', 'middle', 'end']), textVerticalAnchor: OneOf(['top', 'middle', 'bottom']),
  })),
}));

const Marker = closed(optional({ name: OneOf(['classic', 'block', 'diamond', 'circle']), size: Type.Number({ minimum: 1 }) }));
const EdgeAttrs = closed(optional({
  line: closed(optional({ stroke: Color, strokeWidth: Type.Number({ minimum: 0 }), strokeDasharray: DashArray, targetMarker: Marker, sourceMarker: Marker })),
}));

const Point = closed({ x: Type.Number(), y: Type.Number() });
const EdgeLabel = closed(optional({
  attrs: closed(optional({ text: closed(optional(TextStyle)) })),
  position: Type.Union([
    Type.Number(),
    closed({
      distance: Type.Number(),
      ...optional({
        offset: Type.Union([Type.Number(), closed(optional({ x: Type.Number(), y: Type.Number() }))]),
        angle: Type.Number(),
        options: closed(optional(Object.fromEntries(['absoluteDistance', 'reverseDistance', 'absoluteOffset', 'keepGradient', 'ensureLegibility'].map((k) => [k, Type.Boolean()])))),
      }),
    }),
  ]),
}));

const Side = OneOf(['top', 'right', 'bottom', 'left']);
const PortConfiguration = closed(optional({
  groups: Type.Record(Type.String(), open(optional({ position: Side, attrs: open() }))),
  items: Type.Array(open({
    id: Type.String({ maxLength: 64, pattern: NO_CONTROL }), group: Type.String({ maxLength: 32, pattern: NO_CONTROL }), ...optional({ attrs: open() }),
  }), { maxItems: 1000 }),
}));

/** A router or connector: X6 takes its name alone, or the name with arguments. */
const Named = (names: readonly string[], args: Record<string, TSchema>) => Type.Union([
  OneOf(names),
  closed({ name: OneOf(names), ...optional({ args: open(optional(args)) }) }),
]);
const EdgeRouter = Named(['normal', 'orth', 'one_side', 'manhattan', 'metro', 'er'],
  { padding: Type.Number(), step: Type.Number(), directions: Type.Array(Side, { maxItems: 1000 }) });
const EdgeConnector = Named(['normal', 'rounded', 'smooth', 'jumpover'],
  { radius: Type.Number(), precision: Type.Number(), size: Type.Number(), jump: OneOf(['arc', 'gap', 'cubic']) });

const EdgeTerminal = closed({ cell: CellId, ...optional({ port: Nullable(Type.String({ maxLength: 64, pattern: NO_CONTROL })) }) });

/** A cell's `data`: open, as X6 lets applications keep their own members there; these three are TMI's. */
const CellData = open(optional({
  _metadata: Type.Array(Metadata, { maxItems: 100 }),
  security_boundary: Type.Boolean(),
  data_assets: Type.Array(Type.String({ maxLength: 36, pattern: UUID_PATTERN }), { minItems: 1, maxItems: 100, uniqueItems: true }),
}));

const NodeMembers = {
  id: CellId,
  shape: OneOf(NODE_SHAPES),
  ...optional({
    angle: Type.Number(),
    attrs: NodeAttrs,
    ports: PortConfiguration,
    parent: Nullable(Type.String({ maxLength: 36, pattern: `^$|${UUID_PATTERN}` })),
    children: Type.Array(CellId, { maxItems: 1000 }),
    data: CellData,
  }),
};
const FlatGeometry = { x: Type.Number(), y: Type.Number(), width: Type.Number({ minimum: 40 }), height: Type.Number({ minimum: 30 }) };

const EdgeMembers = {
  id: CellId,
  shape: Type.Literal(EDGE_SHAPE),
  source: EdgeTerminal,
  target: EdgeTerminal,
  ...optional({
    attrs: EdgeAttrs,
    labels: Type.Array(EdgeLabel, { maxItems: 1000 }),
    vertices: Type.Array(Point, { maxItems: 1000 }),
    router: EdgeRouter,
    connector: EdgeConnector,
    defaultLabel: EdgeLabel,
    data: CellData,
  }),
};

/** A node as stored and answered: flat geometry, nothing beyond the contract's members. */
export const StoredNode = closed({ ...NodeMembers, ...FlatGeometry });
export const StoredEdge = closed(EdgeMembers);
export const StoredCell = Type.Union([StoredNode, StoredEdge]);

/** What code reads of a stored cell (the schemas above say all of it; their members are optional, so typed by hand). */
export interface CellData { _metadata?: Metadata[]; security_boundary?: boolean; data_assets?: string[]; [member: string]: unknown }
interface TextAttrs { text?: { text?: string } }
export interface StoredNode {
  id: string; shape: (typeof NODE_SHAPES)[number]; x: number; y: number; width: number; height: number;
  parent?: string | null; children?: string[]; attrs?: TextAttrs; data?: CellData; [member: string]: unknown;
}
export interface EdgeTerminal { cell: string; port?: string | null }
export interface StoredEdge {
  id: string; shape: typeof EDGE_SHAPE; source: EdgeTerminal; target: EdgeTerminal; labels?: { attrs?: TextAttrs }[]; data?: CellData; [member: string]: unknown;
}
export type StoredCell = StoredNode | StoredEdge;

/** A node as a client may send it: either geometry form, and members beyond the contract's (dropped). */
export const InputNode = Type.Object({
  ...NodeMembers,
  ...optional({ ...FlatGeometry, position: Point, size: closed({ width: FlatGeometry.width, height: FlatGeometry.height }) }),
});
export const InputEdge = Type.Object(EdgeMembers);
export const InputCell = Type.Union([InputNode, InputEdge]);

export const MAX_CELLS = 10_000;

const NODE_MEMBERS = Object.keys(NodeMembers);
const EDGE_MEMBERS = Object.keys(EdgeMembers);

/** TMI's size of a node that states none: the contract's smallest. */
const DEFAULT_SIZE = { width: 40, height: 30 };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const pick = (from: Record<string, unknown>, members: readonly string[]) =>
  Object.fromEntries(members.filter((k) => from[k] !== undefined).map((k) => [k, from[k]]));

/**
 * A cell as stored: a node's geometry flat (its `position`/`size` objects win over flat members
 * when both are sent; unstated geometry is the origin and the smallest size), members beyond the
 * contract's dropped. What is not a node or edge is returned as it is, for the stored schema to refuse.
 */
export function normalizeCell(cell: unknown): unknown {
  if (!isObject(cell)) return cell;
  if (cell.shape === EDGE_SHAPE) return pick(cell, EDGE_MEMBERS);
  if (!(NODE_SHAPES as readonly unknown[]).includes(cell.shape)) return cell;
  const position = isObject(cell.position) ? cell.position : {};
  const size = isObject(cell.size) ? cell.size : {};
  return {
    ...pick(cell, NODE_MEMBERS),
    x: position.x ?? cell.x ?? 0,
    y: position.y ?? cell.y ?? 0,
    width: size.width ?? cell.width ?? DEFAULT_SIZE.width,
    height: size.height ?? cell.height ?? DEFAULT_SIZE.height,
  };
}

export const isEdge = (cell: StoredCell): cell is StoredEdge => cell.shape === EDGE_SHAPE;

/**
 * What the schema cannot say of a diagram's cells: ids are unique, an edge runs between two
 * nodes of this diagram, a node's parent is another node of it and its children are its cells.
 */
export function checkCells(cells: readonly StoredCell[]): void {
  const byId = new Map<string, StoredCell>();
  for (const cell of cells) {
    if (byId.has(cell.id)) throw invalid(`cell ${cell.id} appears more than once`);
    byId.set(cell.id, cell);
  }
  const isNode = (id: string) => { const c = byId.get(id); return c !== undefined && !isEdge(c); };
  for (const cell of cells) {
    if (isEdge(cell)) {
      for (const end of ['source', 'target'] as const) {
        if (!isNode(cell[end].cell)) throw invalid(`edge ${cell.id}: its ${end} ${cell[end].cell} is not a node of this diagram`, { cell_id: cell.id });
      }
      continue;
    }
    if (cell.parent) {
      if (cell.parent === cell.id || !isNode(cell.parent)) throw invalid(`node ${cell.id}: its parent ${cell.parent} is not another node of this diagram`, { cell_id: cell.id });
    }
    for (const child of cell.children ?? []) {
      if (child === cell.id || !byId.has(child)) throw invalid(`node ${cell.id}: its child ${child} is not another cell of this diagram`, { cell_id: cell.id });
    }
  }
}

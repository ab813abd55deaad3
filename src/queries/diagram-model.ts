import { isEdge, type CellData, type StoredCell, type StoredEdge, type StoredNode } from '../commands/diagrams/index.js';
import type { Metadata } from '../commands/threat-models/values.js';

/**
 * TMI's MinimalDiagramModel: a diagram as an automated threat modeller reads it — its threat
 * model's context, and per cell what it is and what it says, without styling or layout.
 */
export interface MinimalNode {
  id: string; shape: StoredNode['shape']; parent: string | null; children: string[]; labels: string[];
  metadata: Record<string, string>; security_boundary: boolean; data_asset_ids?: string[];
}
export interface MinimalEdge {
  id: string; shape: StoredEdge['shape']; source: StoredEdge['source']; target: StoredEdge['target'];
  labels: string[]; metadata: Record<string, string>; data_asset_ids?: string[];
}
export interface MinimalDiagramModel<Asset = Record<string, unknown>> {
  id: string; name: string; description: string; metadata: Record<string, string>;
  cells: (MinimalNode | MinimalEdge)[]; assets: Asset[];
}

/** Metadata as one object; where a key repeats, the last entry wins. */
export const flatMetadata = (entries: readonly Metadata[] | undefined): Record<string, string> =>
  Object.fromEntries((entries ?? []).map((m) => [m.key, m.value]));

const text = (label: { attrs?: { text?: { text?: string } } } | undefined): string[] => {
  const t = label?.attrs?.text?.text;
  return t ? [t] : [];
};

const assetIds = (data: CellData | undefined) => (data?.data_assets ? { data_asset_ids: [...data.data_assets] } : {});

/** Every asset id the cells reference, each once, in the order they first appear. */
export const referencedAssetIds = (cells: readonly StoredCell[]): string[] => [...new Set(cells.flatMap((c) => c.data?.data_assets ?? []))];

/**
 * The minimal model of a diagram's cells. A node's children are those it names and those that
 * name it as their parent (X6 keeps the relation on both sides, clients do not always); its
 * labels are its own text and that of the text boxes embedded in it.
 */
export function minimalDiagramModel<Asset>(
  threatModel: { id: string; name: string; description: string | null; metadata: readonly Metadata[] },
  cells: readonly StoredCell[],
  assets: Asset[],
): MinimalDiagramModel<Asset> {
  const byId = new Map(cells.map((c) => [c.id, c]));
  const embedded = new Map<string, string[]>();
  for (const c of cells) {
    if (!isEdge(c) && c.parent) embedded.set(c.parent, [...(embedded.get(c.parent) ?? []), c.id]);
  }
  const minimal = cells.map((c): MinimalNode | MinimalEdge => {
    const metadata = flatMetadata(c.data?._metadata);
    if (isEdge(c)) {
      return { id: c.id, shape: c.shape, source: c.source, target: c.target, labels: (c.labels ?? []).flatMap(text), metadata, ...assetIds(c.data) };
    }
    const children = [...new Set([...(c.children ?? []), ...(embedded.get(c.id) ?? [])])];
    const textBoxes = children.map((id) => byId.get(id)).filter((k): k is StoredNode => k !== undefined && !isEdge(k) && k.shape === 'text-box');
    return {
      id: c.id, shape: c.shape, parent: c.parent || null, children,
      labels: [...text(c), ...textBoxes.flatMap(text)],
      metadata, security_boundary: c.shape === 'security-boundary' || c.data?.security_boundary === true, ...assetIds(c.data),
    };
  });
  return {
    id: threatModel.id, name: threatModel.name, description: threatModel.description ?? '', metadata: flatMetadata(threatModel.metadata),
    cells: minimal, assets,
  };
}

import type { MinimalDiagramModel, MinimalEdge, MinimalNode } from '../../queries/diagram-model.js';

/**
 * A minimal diagram model as GraphML 1.0: one directed graph, a `<node>` per node and an
 * `<edge>` per flow. Members that are lists or maps (labels, metadata, asset ids) are data of
 * type string holding JSON, which GraphML readers keep as text and a script can parse back.
 */

// XML 1.0 allows no other control characters, not even escaped.
const escape = (s: string) => s
  .replace(/[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/g, '\uFFFD')
  .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

const KEYS: [id: string, target: 'all' | 'node' | 'edge' | 'graph', type: 'string' | 'boolean'][] = [
  ['name', 'graph', 'string'], ['description', 'graph', 'string'], ['metadata', 'all', 'string'],
  ['shape', 'all', 'string'], ['labels', 'all', 'string'], ['data_asset_ids', 'all', 'string'],
  ['parent', 'node', 'string'], ['children', 'node', 'string'], ['security_boundary', 'node', 'boolean'],
  ['source_port', 'edge', 'string'], ['target_port', 'edge', 'string'],
];

const data = (key: string, value: unknown, indent: string) => {
  if (value === undefined || value === null) return '';
  const shown = typeof value === 'string' ? value : typeof value === 'boolean' ? String(value) : JSON.stringify(value);
  return `${indent}<data key="${key}">${escape(shown)}</data>\n`;
};

const isNode = (c: MinimalNode | MinimalEdge): c is MinimalNode => c.shape !== 'flow';

export function toGraphml(model: MinimalDiagramModel<unknown>, diagramId: string): string {
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>\n',
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"',
    ' xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n',
    ...KEYS.map(([id, target, type]) => `  <key id="${id}" for="${target}" attr.name="${id}" attr.type="${type}"/>\n`),
    `  <graph id="${escape(diagramId)}" edgedefault="directed">\n`,
    data('name', model.name, '    '), data('description', model.description, '    '), data('metadata', model.metadata, '    '),
  ];
  const cells = model.cells;
  for (const c of cells.filter(isNode)) {
    out.push(`    <node id="${escape(c.id)}">\n`, data('shape', c.shape, '      '), data('labels', c.labels, '      '), data('parent', c.parent, '      '),
      data('children', c.children, '      '), data('security_boundary', c.security_boundary, '      '), data('metadata', c.metadata, '      '),
      data('data_asset_ids', c.data_asset_ids, '      '), '    </node>\n');
  }
  for (const c of cells.filter((x): x is MinimalEdge => !isNode(x))) {
    out.push(`    <edge id="${escape(c.id)}" source="${escape(c.source.cell)}" target="${escape(c.target.cell)}">\n`, data('shape', c.shape, '      '),
      data('labels', c.labels, '      '), data('source_port', c.source.port, '      '), data('target_port', c.target.port, '      '),
      data('metadata', c.metadata, '      '), data('data_asset_ids', c.data_asset_ids, '      '), '    </edge>\n');
  }
  out.push('  </graph>\n', '</graphml>\n');
  return out.join('');
}

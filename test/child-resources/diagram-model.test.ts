import { describe, expect, it } from 'vitest';
import type { StoredCell } from '../../src/commands/diagrams/index.js';
import { minimalDiagramModel, referencedAssetIds } from '../../src/queries/diagram-model.js';
import { toGraphml } from '../../src/http/views/graphml.js';
import { XMLValidator } from 'fast-xml-parser';

const id = (n: number) => `0190a000-0000-7000-8000-00000000000${n}`;
const box = { x: 0, y: 0, width: 40, height: 30 };
const tm = { id: id(9), name: 'Payments', description: null, metadata: [{ key: 'env', value: 'dev' }, { key: 'env', value: 'prod' }] };

describe('the minimal diagram model (pure)', () => {
  it('computes children both ways, labels from text and embedded text boxes, boundaries and flat metadata', () => {
    const cells: StoredCell[] = [
      { id: id(1), shape: 'security-boundary', ...box },
      { id: id(2), shape: 'process', ...box, parent: id(1), children: [id(3)], attrs: { text: { text: 'API' } }, data: { _metadata: [{ key: 'a', value: '1' }], data_assets: [id(7)] } },
      { id: id(3), shape: 'text-box', ...box, attrs: { text: { text: 'note' } } },
      { id: id(4), shape: 'flow', source: { cell: id(2) }, target: { cell: id(1) }, labels: [{ attrs: { text: { text: '' } } }, { attrs: { text: { text: 'x' } } }], data: { data_assets: [id(7), id(8)] } },
    ];
    const model = minimalDiagramModel(tm, cells, []);
    expect(model).toMatchObject({ id: id(9), description: '', metadata: { env: 'prod' } });
    expect(model.cells[0]).toEqual({ id: id(1), shape: 'security-boundary', parent: null, children: [id(2)], labels: [], metadata: {}, security_boundary: true });
    expect(model.cells[1]).toEqual({ id: id(2), shape: 'process', parent: id(1), children: [id(3)], labels: ['API', 'note'], metadata: { a: '1' }, security_boundary: false, data_asset_ids: [id(7)] });
    expect(model.cells[3]).toEqual({ id: id(4), shape: 'flow', source: { cell: id(2) }, target: { cell: id(1) }, labels: ['x'], metadata: {}, data_asset_ids: [id(7), id(8)] });
    expect(referencedAssetIds(cells)).toEqual([id(7), id(8)]);
  });

  it('writes GraphML that stays well-formed whatever the text holds', () => {
    const cells: StoredCell[] = [{ id: id(1), shape: 'actor', ...box, attrs: { text: { text: '<&>"\'' } }, data: { _metadata: [{ key: 'k', value: 'ctl\u0001\u0008 "q" ]]>' }] } }];
    const xml = toGraphml(minimalDiagramModel({ ...tm, name: 'a & b <c>' }, cells, []), id(5));
    expect(XMLValidator.validate(xml)).toBe(true);
    expect(xml).not.toMatch(/[\u0001\u0008]/);
  });
});

import type { KindSpec } from './suite.js';

/**
 * Each kind of child resource as the shared conformance suite and the cross-kind count
 * property see it: valid and invalid bodies from the contract's schemas, TMI's defaults, a patch.
 */
export const threatsSpec: KindSpec = {
  plural: 'threats', idParam: 'threat_id', count: 'threat_count',
  valid: { name: 'SQL injection', threat_type: ['Tampering'], severity: 'High', score: 8.3 },
  created: { name: 'SQL injection', threat_type: ['Tampering'], severity: 'High', score: 8.3, mitigated: false, cwe_id: [], cvss: [], include_in_report: true, timmy_enabled: true, auto_generated: false },
  replacement: { name: 'SQLi', threat_type: [] },
  invalid: { name: 'x', threat_type: ['a'], score: 11 },
  patch: { operations: [{ op: 'replace', path: '/mitigated', value: true }, { op: 'add', path: '/cwe_id/-', value: 'CWE-89' }], shows: { mitigated: true, cwe_id: ['CWE-89'] } },
  ifMatch: true,
  bulk: { max: 20, create: 201, update: 200, patch: true, delete: true },
};

const process = { id: '0190b000-0000-7000-8000-0000000000a1', shape: 'process', position: { x: 100, y: 80 }, size: { width: 120, height: 60 }, attrs: { text: { text: 'Payments API' } } };
const store = { id: '0190b000-0000-7000-8000-0000000000a2', shape: 'store', x: 400, y: 80, width: 120, height: 60, data: { _metadata: [{ key: 'pii', value: 'yes' }] } };
const flow = { id: '0190b000-0000-7000-8000-0000000000a3', shape: 'flow', source: { cell: process.id }, target: { cell: store.id }, labels: [{ attrs: { text: { text: 'card data' } } }] };

export const diagramsSpec: KindSpec = {
  plural: 'diagrams', idParam: 'diagram_id', count: 'diagram_count',
  valid: { name: 'Context', type: 'DFD-1.0.0' },
  created: { name: 'Context', type: 'DFD-1.0.0', cells: [], include_in_report: true, timmy_enabled: true, auto_generated: false },
  put: { name: 'Context', type: 'DFD-1.0.0', cells: [] },
  replacement: { name: 'Payments', type: 'DFD-1.0.0', cells: [process, store, flow], color_palette: [{ position: 1, color: '#ABC' }] },
  invalid: { name: 'Sequence', type: 'UML-2.5' },
  patch: {
    operations: [{ op: 'replace', path: '/name', value: 'Renamed' }, { op: 'add', path: '/cells/-', value: process }],
    shows: { name: 'Renamed', cells: [{ id: process.id, shape: 'process', x: 100, y: 80, width: 120, height: 60, attrs: { text: { text: 'Payments API' } } }] },
  },
  ifMatch: true,
  deleteRole: 'owner',
  itemReads: ['/model'],
  listOmits: ['cells', 'metadata', 'version', 'update_vector', 'auto_generated'],
};

export const documentsSpec: KindSpec = {
  plural: 'documents', idParam: 'document_id', count: 'document_count',
  valid: { name: 'Architecture review', uri: 'https://docs.example.com/review.pdf' },
  created: { name: 'Architecture review', uri: 'https://docs.example.com/review.pdf', include_in_report: true, timmy_enabled: true },
  replacement: { name: 'Pen test', uri: 'https://docs.example.com/pentest.pdf', description: 'External assessment', include_in_report: false },
  invalid: { name: 'No scheme', uri: 'docs.example.com/review.pdf' },
  patch: { operations: [{ op: 'replace', path: '/timmy_enabled', value: false }, { op: 'add', path: '/description', value: 'Q1' }], shows: { timmy_enabled: false, description: 'Q1' } },
  ifMatch: true,
  bulk: { max: 20, create: 201, update: 201 },
};

export const repositoriesSpec: KindSpec = {
  plural: 'repositories', idParam: 'repository_id', count: 'repo_count',
  valid: { uri: 'https://github.com/example/payments' },
  created: { uri: 'https://github.com/example/payments', include_in_report: true, timmy_enabled: true },
  replacement: { name: 'payments', uri: 'https://github.com/example/payments', type: 'git', parameters: { refType: 'branch', refValue: 'main', subPath: 'services/api' } },
  invalid: { uri: 'https://github.com/example/payments', type: 'cvs' },
  patch: { operations: [{ op: 'add', path: '/parameters', value: { refType: 'tag', refValue: 'v1.2.0' } }, { op: 'replace', path: '/type', value: 'mercurial' }], shows: { type: 'mercurial', parameters: { refType: 'tag', refValue: 'v1.2.0' } } },
  ifMatch: false,
  bulk: { max: 20, create: 201, update: 200 },
};

export const notesSpec: KindSpec = {
  plural: 'notes', idParam: 'note_id', count: 'note_count',
  valid: { name: 'Review notes', content: '# Findings\n\n- session fixation\n' },
  created: { name: 'Review notes', content: '# Findings\n\n- session fixation\n', include_in_report: true, timmy_enabled: true, auto_generated: false },
  replacement: { name: 'Follow-up', content: 'Rate limit the payment endpoint.', description: 'After the review' },
  invalid: { name: 'Empty', content: '' },
  patch: { operations: [{ op: 'replace', path: '/content', value: 'Rewritten' }], shows: { content: 'Rewritten' } },
  ifMatch: false,
  listOmits: ['content', 'auto_generated'],
};

export const assetsSpec: KindSpec = {
  plural: 'assets', idParam: 'asset_id', count: 'asset_count',
  valid: { name: 'Customer database', type: 'data' },
  created: { name: 'Customer database', type: 'data', include_in_report: true, timmy_enabled: true },
  replacement: { name: 'Payment API', type: 'service', criticality: 'high', classification: ['confidential', 'pci'], sensitivity: 'high' },
  invalid: { name: 'Laptop', type: 'gadget' },
  patch: { operations: [{ op: 'add', path: '/classification', value: ['internal'] }, { op: 'replace', path: '/type', value: 'hardware' }], shows: { type: 'hardware', classification: ['internal'] } },
  ifMatch: true,
  bulk: { max: 50, create: 201, update: 200 },
};

export const KIND_SPECS = [threatsSpec, diagramsSpec, documentsSpec, repositoriesSpec, notesSpec, assetsSpec];

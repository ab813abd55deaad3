import { repositories, type RepositoryFields } from '../../commands/repositories/index.js';
import { UnversionedMembers, plainChildHttp } from './shapes.js';

/** Source repositories. The contract's Repository has no `version` and its PUT and PATCH no If-Match (sent, it is honoured). */
export const repositoriesHttp = plainChildHttp<RepositoryFields>(repositories, {
  server: UnversionedMembers,
  ifMatch: 'optional',
  // RepositoryBulkUpdateItem requires a name (which may still be null).
  bulk: { max: 20, create: 201, update: 200, updateRequires: ['name'] },
});

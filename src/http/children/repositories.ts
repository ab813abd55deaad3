import { Type } from '@sinclair/typebox';
import { RepositoryParameters, repositories, type RepositoryFields } from '../../commands/repositories/index.js';
import { UnversionedMembers, plainChildHttp } from './shapes.js';

/** Source repositories. The contract's Repository has no `version` and its PUT and PATCH no If-Match (sent, it is honoured). */
export const repositoriesHttp = plainChildHttp<RepositoryFields>(repositories, {
  required: ['uri'],
  server: UnversionedMembers,
  // Stored as null when absent, but the contract does not let a client send null.
  inputMembers: { parameters: Type.Optional(RepositoryParameters) },
  ifMatch: 'optional',
  // RepositoryBulkUpdateItem requires a name (which may still be null).
  bulk: { max: 20, create: 201, update: 200, updateRequires: ['name'] },
});

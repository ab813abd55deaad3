import { Type } from '@sinclair/typebox';
import { documents, type DocumentFields } from '../../commands/documents/index.js';
import { ServerMembers, Uuid } from '../schemas/children.js';
import { plainChildHttp } from './shapes.js';

/**
 * Documents. The contract's Document also has `access_status`, `content_source` and access
 * diagnostics, kept by content providers this service does not have; left out, they read as
 * their default (`unknown`).
 */
export const documentsHttp = plainChildHttp<DocumentFields>(documents, {
  server: ServerMembers,
  // TMI answers 202 `{document, job_id}` when it queued the document's content extraction. Here a
  // 202 means the document is recorded but not readable yet; there is no job besides the document
  // becoming visible, so its id is what a client correlates (GET it with X-Min-Position).
  accepted: (body) => ({ schema: Type.Object({ document: body, job_id: Uuid }), wrap: (document, child) => ({ document, job_id: child.id }) }),
  bulk: { max: 20, create: 201, update: 201 },
});

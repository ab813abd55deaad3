import { Type } from '@sinclair/typebox';
import { NoteFields, notes } from '../../commands/notes/index.js';
import { UnversionedMembers, bodySchema, plainChildHttp } from './shapes.js';

/** TMI's NoteListItem: a list shows a note without its content (up to 256 KiB each). */
const NoteListItem = bodySchema(Type.Pick(NoteFields, ['name', 'description', 'include_in_report', 'timmy_enabled']), ['name'], UnversionedMembers);

/** Notes: no bulk operations; the contract's Note has no `version` and its PUT and PATCH no If-Match (sent, it is honoured). */
export const notesHttp = plainChildHttp<NoteFields>(notes, {
  server: { ...UnversionedMembers, auto_generated: Type.Boolean() },
  listItem: NoteListItem,
  ifMatch: 'optional',
});

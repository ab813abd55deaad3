import { Type, type Static } from '@sinclair/typebox';
import { childAggregate } from '../child-resources/index.js';
import { ReportFlags, defineChildResource, orNull, reportFlags } from '../child-resources/fields.js';
import { ChildDescription, ChildName, Nullable } from '../child-resources/values.js';
import { invalid } from '../errors.js';
import { sanitizeNoteContent } from './sanitize.js';

/** Markdown, up to 256 KiB; tabs and line breaks allowed, other control characters not (the contract's limits). */
export const NoteContent = Type.String({ minLength: 1, maxLength: 262_144, pattern: '^[^\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F]*$' });

/** A note's writable fields (TMI's NoteBase), as stored. */
export const NoteFields = Type.Object({
  name: ChildName,
  content: NoteContent,
  description: Nullable(ChildDescription),
  ...ReportFlags,
}, { additionalProperties: false });
export type NoteFields = Static<typeof NoteFields>;

/** Content as stored: sanitized (TMI strips dangerous HTML server-side); nothing left of it is refused, not stored empty. */
function noteContent(content: string | undefined): string {
  // Missing (a patch removed it): the fields' schema check refuses it.
  if (typeof content !== 'string') return content!;
  const clean = sanitizeNoteContent(content);
  if (clean !== content && clean.trim() === '') throw invalid('note content is empty once its dangerous HTML is removed');
  return clean;
}

export const noteResource = defineChildResource('note', 'notes', NoteFields, { required: ['name', 'content'] }, (i) => ({
  name: i.name!, content: noteContent(i.content), description: orNull(i.description), ...reportFlags(i),
}));

export const notes = childAggregate(noteResource);

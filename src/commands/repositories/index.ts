import { Type, type Static } from '@sinclair/typebox';
import { childAggregate } from '../child-resources/index.js';
import { OneOf, ReportFlags, defineChildResource, orNull, reportFlags } from '../child-resources/fields.js';
import { ChildDescription, ChildName, ExternalUri, Label, Nullable } from '../child-resources/values.js';

export const REPOSITORY_TYPES = ['git', 'svn', 'mercurial', 'other'] as const;

/** Where in the repository the referenced source is: TMI's `parameters`. */
export const RepositoryParameters = Type.Object({
  refType: OneOf(['branch', 'tag', 'commit']),
  refValue: Label(256),
  subPath: Type.Optional(Label(256)),
}, { additionalProperties: false });

/** A repository's writable fields (TMI's RepositoryBase), as stored: only `uri` is required, absent members are null. */
export const RepositoryFields = Type.Object({
  name: Nullable(ChildName),
  description: Nullable(ChildDescription),
  type: Nullable(OneOf(REPOSITORY_TYPES)),
  parameters: Nullable(RepositoryParameters),
  uri: ExternalUri,
  ...ReportFlags,
}, { additionalProperties: false });
export type RepositoryFields = Static<typeof RepositoryFields>;

export const repositoryResource = defineChildResource('repository', 'repositories', RepositoryFields, {
  required: ['uri'],
  notNull: ['type', 'parameters'],
}, (i) => ({
  name: orNull(i.name), description: orNull(i.description), type: orNull(i.type), parameters: orNull(i.parameters), uri: i.uri!, ...reportFlags(i),
}));

export const repositories = childAggregate(repositoryResource);

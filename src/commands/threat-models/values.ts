import { Type, type Static } from '@sinclair/typebox';

/**
 * The threat model's value shapes with the contract's limits and patterns. Both the HTTP
 * schemas and the domain's own checks (a patched document is re-validated) are built from
 * these, so a limit lives in one place. Formats are spelled as patterns so the domain needs
 * no format registry.
 */
const NO_CONTROL = '^[^\\x00-\\x1F]*$';
const NO_MARKUP = '^[^<>"\'&]*$';
// The contract's pattern and its `format: email` together: its characters, but dots only between
// characters of the local part and host labels that neither start nor end with a hyphen (the
// pattern alone let through `.a@-b..example`, which the service then answered in bodies the
// contract refuses).
const EMAIL = '^[A-Za-z0-9_%+-]+(\\.[A-Za-z0-9_%+-]+)*@([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\\.)+[A-Za-z]{2,}$';
const EMAIL_MAX_LENGTH = 254;
/** What the contract takes for an email (its pattern, its format, its length), for values made rather than received. */
export const isContractEmail = (s: string): boolean => s.length <= EMAIL_MAX_LENGTH && new RegExp(EMAIL).test(s);
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
// The contract's pattern and its `format: uri` together: a host as the pattern has it, then only
// URI characters and well-formed escapes (the pattern alone let through spaces and any character).
const URI_CHARS = (extra: string) => `(?:[A-Za-z0-9._~!$&'()*+,;=${extra}-]|%[0-9A-Fa-f]{2})*`;
const HTTP_URI = `^$|^https?:\\/\\/[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*(:[0-9]{1,5})?(\\/${URI_CHARS(':@')})*([?]${URI_CHARS(':@/?')})?(#${URI_CHARS(':@/?')})?$`;

export const ROLES = ['reader', 'writer', 'owner'] as const;
export type Role = (typeof ROLES)[number];
export const Role = Type.Union([Type.Literal('reader'), Type.Literal('writer'), Type.Literal('owner')]);

export const FRAMEWORKS = ['CIA', 'STRIDE', 'LINDDUN', 'DIE', 'PLOT4ai'] as const;
export const DEFAULT_FRAMEWORK = 'STRIDE';
export const DEFAULT_STATUS = 'not_started';

export const Provider = Type.String({ pattern: '^(\\*|[a-zA-Z][a-zA-Z0-9_*-]*)$', maxLength: 100 });
export const ProviderId = Type.String({ minLength: 1, maxLength: 500, pattern: NO_MARKUP });
export const DisplayName = Type.String({ minLength: 1, maxLength: 256, pattern: NO_CONTROL });
export const Email = Type.String({ maxLength: EMAIL_MAX_LENGTH, pattern: EMAIL });

export const User = Type.Object({
  principal_type: Type.Literal('user'),
  provider: Provider,
  provider_id: ProviderId,
  display_name: DisplayName,
  email: Email,
}, { additionalProperties: false });
export type User = Static<typeof User>;

export const Authorization = Type.Object({
  principal_type: Type.Union([Type.Literal('user'), Type.Literal('group')]),
  provider: Provider,
  provider_id: ProviderId,
  display_name: Type.Optional(DisplayName),
  email: Type.Optional(Email),
  role: Role,
}, { additionalProperties: false });
export type Authorization = Static<typeof Authorization>;

export const MetadataKey = Type.String({ minLength: 1, maxLength: 256, pattern: '^[a-zA-Z0-9_./:-]+$' });
export const MetadataValue = Type.String({ minLength: 1, maxLength: 1024 });
export const Metadata = Type.Object({ key: MetadataKey, value: MetadataValue }, { additionalProperties: false });
export type Metadata = Static<typeof Metadata>;

// Names are output with the stricter "no markup" pattern, so they are refused with it on input too.
export const Name = Type.String({ minLength: 1, maxLength: 256, pattern: '^[^<>"\'&\\x00-\\x1F]*$' });
export const Description = Type.String({ maxLength: 2048, pattern: '^[^<>\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F]*$' });
export const Framework = Type.String({ maxLength: 30, pattern: '^[A-Za-z0-9_-]*$' });
export const IssueUri = Type.String({ maxLength: 1000, pattern: HTTP_URI });
export const Status = Type.String({ maxLength: 128, pattern: NO_CONTROL });
export const ProjectId = Type.String({ maxLength: 36, pattern: `^$|${UUID_PATTERN}` });

export const MAX_AUTHORIZATION_ENTRIES = 1000;
export const MAX_METADATA_ENTRIES = 100;

/** Everything a caller may write on a threat model, as the domain holds it after input or a patch. */
export const WritableThreatModel = Type.Object({
  name: Name,
  description: Type.Union([Description, Type.Null()]),
  threat_model_framework: Framework,
  issue_uri: Type.Union([IssueUri, Type.Null()]),
  project_id: Type.Union([ProjectId, Type.Null()]),
  status: Status,
  security_reviewer: Type.Union([User, Type.Null()]),
  owner: User,
  authorization: Type.Array(Authorization, { maxItems: MAX_AUTHORIZATION_ENTRIES }),
  metadata: Type.Array(Metadata, { maxItems: MAX_METADATA_ENTRIES }),
}, { additionalProperties: false });
export type WritableThreatModel = Static<typeof WritableThreatModel>;

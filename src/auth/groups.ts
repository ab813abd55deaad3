import { v5 as uuidv5 } from 'uuid';

const GROUP_NAMESPACE = '6f1d2a3c-8b4e-5f60-9a7b-1c2d3e4f5a6b';

/** Built-in groups belong to the `tmi` provider, IdP groups to their provider; ids are stable without a table. */
export const groupUuid = (provider: string, name: string): string => uuidv5(`${provider}:${name}`, GROUP_NAMESPACE);

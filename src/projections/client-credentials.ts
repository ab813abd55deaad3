import type { PoolClient } from 'pg';
import type { StoredEvent } from '../events/types.js';
import type { ClientCredentialCreated } from '../commands/tokens/events.js';
import type { Projection } from './projection.js';

export const CLIENT_CREDENTIALS_PROJECTION = 'client_credentials';

const credentialIdOf = (event: StoredEvent) => event.stream_id.slice('client-credential-'.length);

/** The list behind `GET /me/client_credentials`; secrets never reach it (only their hashes live in events). */
export const clientCredentialsProjection: Projection = {
  name: CLIENT_CREDENTIALS_PROJECTION,
  version: 1,
  handles: ['ClientCredentialCreated', 'ClientCredentialDeleted', 'ClientCredentialUsed'],
  tables: ['client_credentials'],
  onPoison: 'halt',
  async apply(event: StoredEvent, client: PoolClient) {
    switch (event.type) {
      case 'ClientCredentialCreated': {
        const d = event.data as ClientCredentialCreated;
        await client.query(
          `insert into client_credentials (id, owner_uuid, client_id, name, description, created_at, modified_at, expires_at)
           values ($1, $2, $3, $4, $5, $6, $6, $7) on conflict (id) do nothing`,
          [d.credential_id, d.owner_id, d.client_id, d.name, d.description ?? null, event.created_at, d.expires_at ?? null]);
        return;
      }
      case 'ClientCredentialDeleted':
        await client.query('delete from client_credentials where id = $1', [credentialIdOf(event)]);
        return;
      case 'ClientCredentialUsed':
        await client.query('update client_credentials set last_used_at = $2 where id = $1', [credentialIdOf(event), event.created_at]);
        return;
    }
  },
};

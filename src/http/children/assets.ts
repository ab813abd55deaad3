import { assets, type AssetFields } from '../../commands/assets/index.js';
import { ServerMembers, Uuid } from '../schemas/children.js';
import { Metadata } from '../schemas/threat-models.js';
import { plainChildHttp } from './shapes.js';

/** Assets: bulks of up to 50 (the contract's limit for assets; 20 for the other kinds). */
export const assetsHttp = plainChildHttp<AssetFields>(assets, {
  server: ServerMembers,
  // The full ThreatModel body lists assets as ExtendedAsset, which names their threat model.
  inThreatModel: { ...ServerMembers, threat_model_id: Uuid },
  // The contract's PUT …/metadata/{key} of an asset takes the whole Metadata entry, key included.
  metadataPutBody: Metadata,
  bulk: { max: 50, create: 201, update: 200 },
});

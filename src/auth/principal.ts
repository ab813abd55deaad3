/**
 * The signed-in caller, as established from a verified access token. Authorization rules
 * (threat model roles, admin gates) read only this.
 */
export interface Principal {
  /** Internal user id (uuid) — the JWT `sub`. */
  user_id: string;
  /** Identity provider id, e.g. `tmi`, `google`, `github`. */
  provider: string;
  /** The provider's id for the user (TMI's `provider_id`). */
  provider_id: string;
  email: string;
  /** The provider asserted the email as verified (the token's `email_verified` claim). */
  email_verified: boolean;
  name: string;
  /** Group names from the identity provider and TMI's built-in groups; `everyone` is implied, not listed. */
  groups: string[];
  is_admin: boolean;
  is_security_reviewer: boolean;
  /** Set when a machine client signed in with a client credential (the token's `client_id`, RFC 9068): what it creates is auto-generated. */
  client_id?: string;
  /** Token id, for revocation. */
  jti: string;
  /** Token expiry, seconds since the epoch. */
  exp: number;
}

/** TMI's built-in group names, shared by the token claims, the /me views and the access rules. */
export const EVERYONE = 'everyone';
export const SECURITY_REVIEWERS = 'security-reviewers';
export const ADMINISTRATORS = 'administrators';

/**
 * Who issued a command, as the domain sees it. Structurally a subset of the authenticated
 * principal, so the domain does not depend on how callers are authenticated.
 */
export interface Caller {
  user_id: string;
  provider: string;
  provider_id: string;
  email: string;
  /**
   * Whether the identity provider asserted that the caller owns `email` (OIDC `email_verified`,
   * GitHub's verified flag). Authorization entries naming a user by email match only when it did.
   */
  email_verified: boolean;
  name: string;
  groups: readonly string[];
  is_admin: boolean;
  is_security_reviewer: boolean;
}

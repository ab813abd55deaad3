// oidc-provider ships no types; this declares the little the test issuer uses.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  interface InteractionDetails {
    uid: string;
    prompt: { name: string; details: Record<string, unknown> };
    params: Record<string, unknown>;
    session?: { accountId: string };
    grantId?: string;
  }

  interface Grant {
    addOIDCScope(scope: string): void;
    addOIDCClaims(claims: string[]): void;
    save(): Promise<string>;
  }

  interface Account {
    accountId: string;
    /** `use` is "id_token" or "userinfo": an account may answer the two differently. */
    claims(use: string): Promise<Record<string, unknown>>;
  }

  export default class Provider {
    constructor(issuer: string, configuration: {
      clients: Record<string, unknown>[];
      claims?: Record<string, string[]>;
      scopes?: string[];
      features?: Record<string, unknown>;
      conformIdTokenClaims?: boolean;
      interactions?: { url(ctx: unknown, interaction: { uid: string }): string };
      cookies?: { keys: string[] };
      ttl?: Record<string, number>;
      findAccount(ctx: unknown, id: string): Promise<Account | undefined>;
    });
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
    interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
    Grant: { new (init: { accountId: string; clientId: string }): Grant; find(id: string): Promise<Grant | undefined> };
  }
}

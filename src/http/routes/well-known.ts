import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Services } from '../../services.js';
import { PUBLIC_ROUTE } from '../plugins/authentication.js';

const StrArray = Type.Array(Type.String());

/** OAuth 2.0 / OpenID Connect discovery documents for TMI's own authorization server. */
export const wellKnownRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const base = services.config.server.public_url.replace(/\/$/, '');
  const issuer = services.tokens.issuer;
  const common = {
    issuer,
    authorization_endpoint: `${base}/oauth2/authorize`,
    token_endpoint: `${base}/oauth2/token`,
    introspection_endpoint: `${base}/oauth2/introspect`,
    revocation_endpoint: `${base}/oauth2/revoke`,
    jwks_uri: `${base}/.well-known/jwks.json`,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
    code_challenge_methods_supported: ['S256'],
    scopes_supported: ['openid', 'profile', 'email'],
  };
  const cache = { 'cache-control': 'public, max-age=3600' };

  app.get('/.well-known/openid-configuration', {
    config: PUBLIC_ROUTE,
    schema: {
      tags: ['OIDC Discovery'],
      response: { 200: Type.Object({
        issuer: Type.String(), authorization_endpoint: Type.String(), token_endpoint: Type.String(), userinfo_endpoint: Type.String(), jwks_uri: Type.String(),
        response_types_supported: StrArray, subject_types_supported: StrArray, id_token_signing_alg_values_supported: StrArray, scopes_supported: StrArray,
        claims_supported: StrArray, introspection_endpoint: Type.String(), code_challenge_methods_supported: StrArray, grant_types_supported: StrArray,
        revocation_endpoint: Type.String(), token_endpoint_auth_methods_supported: StrArray,
      }, { additionalProperties: false }) },
    },
  }, async (_request, reply) => {
    reply.headers(cache);
    return {
      ...common,
      userinfo_endpoint: `${base}/oauth2/userinfo`,
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: [services.tokens.algorithm],
      claims_supported: ['sub', 'email', 'email_verified', 'name', 'idp', 'groups', 'tmi_is_administrator', 'tmi_is_security_reviewer', 'iss', 'aud', 'exp', 'iat', 'nbf', 'jti'],
    };
  });

  app.get('/.well-known/oauth-authorization-server', {
    config: PUBLIC_ROUTE,
    schema: {
      tags: ['OIDC Discovery'],
      response: { 200: Type.Object({
        issuer: Type.String(), authorization_endpoint: Type.String(), token_endpoint: Type.String(), introspection_endpoint: Type.String(),
        response_types_supported: StrArray, grant_types_supported: StrArray, token_endpoint_auth_methods_supported: StrArray,
        code_challenge_methods_supported: StrArray, jwks_uri: Type.String(), revocation_endpoint: Type.String(), scopes_supported: StrArray,
      }, { additionalProperties: false }) },
    },
  }, async (_request, reply) => {
    reply.headers(cache);
    return common;
  });

  app.get('/.well-known/jwks.json', {
    config: PUBLIC_ROUTE,
    schema: {
      tags: ['OIDC Discovery'],
      // Full JWK members (n, e, x, y, crv) are what verifiers need, so the response is not narrowed to the contract's four fields.
      response: { 200: Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) }) },
    },
  }, async (_request, reply) => {
    reply.headers(cache);
    return services.tokens.jwks();
  });

  app.get('/.well-known/oauth-protected-resource', {
    config: PUBLIC_ROUTE,
    schema: {
      tags: ['OIDC Discovery'],
      response: { 200: Type.Object({
        resource: Type.String(), scopes_supported: StrArray, authorization_servers: StrArray, jwks_uri: Type.String(),
        bearer_methods_supported: StrArray, resource_name: Type.String(), resource_documentation: Type.String(),
      }, { additionalProperties: false }) },
    },
  }, async (_request, reply) => {
    reply.headers(cache);
    return {
      resource: base,
      scopes_supported: common.scopes_supported,
      authorization_servers: [issuer],
      jwks_uri: common.jwks_uri,
      bearer_methods_supported: ['header'],
      resource_name: services.build.name,
      resource_documentation: `${base}/docs`,
    };
  });
};

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';

export const ACCESS_TOKEN_COOKIE = 'tmi_access_token';
export const REFRESH_TOKEN_COOKIE = 'tmi_refresh_token';

function serialize(name: string, value: string, attrs: { path: string; maxAge: number; sameSite: 'Lax' | 'Strict'; secure: boolean }): string {
  return `${name}=${value}; Path=${attrs.path}; Max-Age=${attrs.maxAge}; HttpOnly; SameSite=${attrs.sameSite}${attrs.secure ? '; Secure' : ''}`;
}

/** TMI's optional HttpOnly cookies: the access token for the API, the refresh token only for /oauth2. */
export function setTokenCookies(reply: FastifyReply, pair: { access_token: string; refresh_token: string; expires_in: number }, config: Config): void {
  const secure = config.server.public_url.startsWith('https://');
  const cookies = [serialize(ACCESS_TOKEN_COOKIE, pair.access_token, { path: '/', maxAge: pair.expires_in, sameSite: 'Lax', secure })];
  if (pair.refresh_token) cookies.push(serialize(REFRESH_TOKEN_COOKIE, pair.refresh_token, { path: '/oauth2', maxAge: config.auth.jwt.refresh_session_seconds, sameSite: 'Strict', secure }));
  reply.header('set-cookie', cookies);
}

export function cookieValue(request: FastifyRequest, name: string): string | null {
  const header = request.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim() || null;
  }
  return null;
}

export const refreshTokenFromCookie = (request: FastifyRequest): string | null => cookieValue(request, REFRESH_TOKEN_COOKIE);

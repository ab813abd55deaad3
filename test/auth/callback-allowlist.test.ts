import { describe, expect, it } from 'vitest';
import { callbackAllowed } from '../../src/auth/oauth-flow.js';

describe('client_callback allowlist', () => {
  const defaults = ['http://localhost:4200/', 'http://localhost:8079/', 'http://127.0.0.1:'];

  it('admits callbacks under a listed prefix', () => {
    expect(callbackAllowed('http://localhost:4200/oauth2/callback', defaults)).toBe(true);
    expect(callbackAllowed('http://127.0.0.1:8079/cb?x=1', defaults)).toBe(true);
    expect(callbackAllowed('https://app.example.com/cb', ['https://app.example.com'])).toBe(true);
    expect(callbackAllowed('https://app.example.com:8443/cb', ['https://app.example.com'])).toBe(true);
  });

  it('refuses other hosts, schemes and user info', () => {
    expect(callbackAllowed('https://evil.example/cb', defaults)).toBe(false);
    expect(callbackAllowed('javascript:alert(1)//http://localhost:4200/', defaults)).toBe(false);
    expect(callbackAllowed('http://127.0.0.1:@evil.example/', defaults)).toBe(false);
    expect(callbackAllowed('http://localhost:4200/@evil.example', defaults)).toBe(true);
  });

  it('a prefix naming only a host does not admit a longer host name', () => {
    expect(callbackAllowed('https://app.example.com.evil.example/cb', ['https://app.example.com'])).toBe(false);
    expect(callbackAllowed('https://app.example.comevil.example/cb', ['https://app.example.com'])).toBe(false);
    expect(callbackAllowed('http://localhost:42001/cb', ['http://localhost:4200'])).toBe(false);
  });

  it('checks the URL the redirect goes to, not the text as sent', () => {
    // The URL parser drops tabs and newlines, so the sent text and the redirect target can differ.
    expect(callbackAllowed('https://app.example.com\t.evil.example/cb', ['https://app.example.com'])).toBe(false);
  });
});

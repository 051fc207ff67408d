import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';

/** A fresh secret per launch; whoever has it may use this server. */
export function newLaunchToken(): string {
  return crypto.randomBytes(24).toString('base64url');
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost') return true;
  if (net.isIPv4(bare)) return bare.startsWith('127.');
  if (net.isIPv6(bare)) return bare === '::1' || /^::ffff:127\./i.test(bare);
  return false;
}

/** True when the server listens on every interface, so any host name may reach it. */
export function isWildcard(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === '0.0.0.0' || bare === '::' || bare === '';
}

/** `host:port` as it appears in URLs (IPv6 addresses in brackets). */
export function hostForUrl(host: string, port: number): string {
  const bare = host.replace(/^\[|\]$/g, '');
  return net.isIPv6(bare) ? `[${bare}]:${port}` : `${bare}:${port}`;
}

const HOST_HEADER = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

/**
 * Decides who may talk to one running server: the launch token (query or cookie), the Host
 * header (a page that rebinds its own DNS name to 127.0.0.1 is still refused) and the
 * Origin of state-changing requests and sockets.
 */
export class AccessPolicy {
  readonly cookieName: string;
  readonly #token: Buffer;
  readonly #allowedHosts: Set<string> | null;

  constructor(
    readonly token: string,
    bindHost: string,
    readonly port: number,
  ) {
    this.#token = Buffer.from(token);
    // Cookies ignore ports, so two servers on one machine need different cookie names.
    this.cookieName = `seedbed_${port}`;
    if (isWildcard(bindHost)) this.#allowedHosts = null;
    else if (isLoopback(bindHost)) {
      this.#allowedHosts = new Set(['127.0.0.1', 'localhost', '[::1]', hostForUrl(bindHost, port).replace(/:\d+$/, '')].map((h) => `${h}:${port}`));
    } else this.#allowedHosts = new Set([hostForUrl(bindHost, port)]);
  }

  tokenMatches(candidate: string | null | undefined): boolean {
    if (!candidate) return false;
    const given = Buffer.from(candidate);
    return given.length === this.#token.length && crypto.timingSafeEqual(given, this.#token);
  }

  /** The request's Host header when it names this server, else null. */
  hostOf(req: IncomingMessage): string | null {
    const host = req.headers.host;
    if (!host || !HOST_HEADER.test(host)) return null;
    if (this.#allowedHosts && !this.#allowedHosts.has(host.toLowerCase())) return null;
    if (!this.#allowedHosts && !host.endsWith(`:${this.port}`)) return null;
    return host;
  }

  /** True when the request carries the token in its query or its cookie. */
  isAuthorised(req: IncomingMessage, queryToken: string | null): boolean {
    if (queryToken !== null) return this.tokenMatches(queryToken);
    return this.tokenMatches(readCookie(req.headers.cookie, this.cookieName));
  }

  /** Browsers always send Origin on sockets and POSTs; it must be this very server. */
  originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    const host = this.hostOf(req);
    return !!origin && !!host && origin.toLowerCase() === `http://${host.toLowerCase()}`;
  }

  sessionCookie(): string {
    return `${this.cookieName}=${this.token}; Path=/; HttpOnly; SameSite=Strict`;
  }
}

export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

import nodePath from 'node:path';

/** A request target split into its raw path and its query. */
export interface RequestTarget {
  /** The path exactly as sent (still percent-encoded). */
  rawPath: string;
  query: URLSearchParams;
}

/**
 * Splits `req.url` without normalising it: WHATWG URL parsing would quietly resolve
 * `/../` and `%2e%2e`, hiding exactly what must be refused.
 */
export function splitTarget(url: string | undefined): RequestTarget | null {
  if (!url || !url.startsWith('/')) return null;
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
  return { rawPath, query };
}

/** The query string without the launch token, for the redirect that drops it. */
export function queryWithout(query: URLSearchParams, name: string): string {
  const rest = new URLSearchParams(query);
  rest.delete(name);
  const text = rest.toString();
  return text ? `?${text}` : '';
}

/**
 * Decodes path segments one by one and refuses anything that could step outside a folder:
 * `.`/`..` (plain or encoded), empty segments (`//`, which would make an absolute path),
 * NUL, slashes or backslashes hidden inside a segment, and malformed escapes.
 * Returns null when the path is refused.
 */
export function safeSegments(rawPath: string): string[] | null {
  if (rawPath.includes('\0') || /%00/i.test(rawPath) || /%2e%2e/i.test(rawPath)) return null;
  const segments: string[] = [];
  for (const raw of rawPath.split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (segment === '' || segment === '.' || segment === '..') return null;
    if (/[\\/\0]/.test(segment)) return null;
    if (nodePath.isAbsolute(segment) || /^[A-Za-z]:/.test(segment)) return null;
    segments.push(segment);
  }
  return segments;
}

/** Joins segments under `root`, or null when the result would not be inside it. */
export function containedPath(root: string, segments: string[]): string | null {
  const base = nodePath.resolve(root);
  const full = nodePath.resolve(base, ...segments);
  return full.startsWith(base + nodePath.sep) ? full : null;
}

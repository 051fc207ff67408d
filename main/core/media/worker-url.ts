/**
 * Where the decode worker's entry is. This module sits next to `decode.worker.ts` in the
 * source tree, and its code lands in the bundles (dist/main/cli.js, server.js, electron.mjs)
 * next to `dist/main/decode.worker.js`: in both layouts the worker is a sibling of this
 * module's own file, only the extension differs (.ts under tsx, .js in the bundle).
 */
import { pathToFileURL } from 'node:url';

export function decodeWorkerUrl(): URL {
  // A CommonJS bundle has no import.meta.url; its __filename is the bundle's file.
  const here: string = import.meta.url ?? pathToFileURL(__filename).href;
  return new URL(here.endsWith('.ts') ? './decode.worker.ts' : './decode.worker.js', here);
}

/**
 * Where a worker's entry file is. A pool module sits next to its `NAME.worker.ts` in the
 * source tree, and its code lands in the bundles (dist/main/cli.js, electron.mjs) next to
 * `dist/main/NAME.worker.js`: in both layouts the worker is a sibling of the calling module's
 * own file; only the extension differs (.ts under tsx, .js in the bundle).
 */
import { pathToFileURL } from 'node:url';

/** `callerUrl` is the calling module's `import.meta.url`; `name` e.g. `decode.worker`. */
export function workerEntryUrl(callerUrl: string | undefined, name: string): URL {
  // A CommonJS bundle has no import.meta.url; its __filename is the bundle's file, as the caller's is.
  const here: string = callerUrl ?? pathToFileURL(__filename).href;
  return new URL(here.endsWith('.ts') ? `./${name}.ts` : `./${name}.js`, here);
}

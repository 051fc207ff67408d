import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// `vite --config renderer/vite.config.ts` can develop against a running `seedbed serve`:
// SEEDBED_SERVER=http://127.0.0.1:PORT proxies the socket, media and uploads to it.
const server = process.env.SEEDBED_SERVER;

export default defineConfig({
  root: here('.'),
  // Relative asset URLs so the same build loads from Electron's custom protocol and over HTTP.
  base: './',
  plugins: [svelte()],
  build: {
    outDir: here('../dist/renderer'),
    emptyOutDir: true,
    target: 'chrome120',
    // Electron's Chromium has native modulepreload; the polyfill would only add code.
    modulePreload: { polyfill: false },
    sourcemap: true,
    chunkSizeWarningLimit: 800,
  },
  server: {
    fs: { allow: [here('..')] },
    proxy: server
      ? {
          '/ws': { target: server.replace(/^http/, 'ws'), ws: true },
          '/media': server,
          '/upload': server,
        }
      : undefined,
  },
});

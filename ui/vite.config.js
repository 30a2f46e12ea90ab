// vakt's web UI, built by crates/vakt-server/build.rs into the binary and
// served under /ui/ with a strict Content-Security-Policy: no inline
// script or style, nothing loaded from elsewhere.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/ui/',
  build: {
    target: 'es2022',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    // `npm run dev` against a running `vakt serve` on :8080.
    proxy: { '/api': 'http://127.0.0.1:8080' },
  },
});

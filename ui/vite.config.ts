/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The router serves the build with a strict CSP (no inline scripts or styles), so nothing
// may be inlined: assets are always separate files, and no module-preload polyfill is
// injected. In dev, /api and /v1 are proxied to a local router.
const router = process.env.SWITCHBOARD_URL ?? "http://127.0.0.1:9911";

export default defineConfig({
  plugins: [react()],
  // Only VITE_-prefixed variables reach the bundle; never widen this (SECURITY.md T10).
  envPrefix: "VITE_",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    sourcemap: false,
    target: "es2022",
  },
  server: {
    // The router refuses foreign origins (CSRF guard); the dev server's requests are ours, so
    // the proxy presents them as same-origin.
    proxy: Object.fromEntries(
      ["/api", "/v1", "/v1beta"].map((path) => [
        path,
        {
          target: router,
          changeOrigin: true,
          configure: (proxy: { on: (ev: "proxyReq", f: (req: { removeHeader: (h: string) => void }) => void) => void }) =>
            proxy.on("proxyReq", (req) => req.removeHeader("origin")),
        },
      ]),
    ),
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
  },
});

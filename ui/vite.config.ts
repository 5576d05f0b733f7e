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
    proxy: {
      "/api": { target: router, changeOrigin: true },
      "/v1": { target: router, changeOrigin: true },
      "/v1beta": { target: router, changeOrigin: true },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
  },
});

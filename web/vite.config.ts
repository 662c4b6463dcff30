/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig, loadEnv, type Plugin } from "vite";

// The API's routes, proxied to the local API by `npm run dev` (the app itself is served
// same-origin by the API in `make run`). Some app pages share a path with an API route
// (/episodes/<id>, /playlists/<id>): a page load (Accept: text/html) gets the app, a fetch
// gets the API, exactly the rule the API's own static serving follows.
const API = "http://127.0.0.1:8000";
const API_PREFIXES = [
  "/auth", "/me", "/podcasts", "/episodes", "/search", "/segments", "/tell-me-more",
  "/playlists", "/shared", "/discover", "/opml", "/demo", "/docs", "/redoc", "/openapi.json",
  "/health", "/ready", "/jobs", "/metrics", "/llm",
];

/**
 * The built page's Content Security Policy, as a <meta> tag naming the API's exact origin
 * (VITE_API_ORIGIN at build time; empty: the page's own). vercel.json adds the directives a
 * <meta> cannot carry (frame-ancestors). Not in `npm run dev`: Vite's dev client is inline.
 */
function contentSecurityPolicy(apiOrigin: string): Plugin {
  const api = apiOrigin ? ` ${new URL(apiOrigin).origin}` : "";
  const policy = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    `connect-src 'self'${api}`,
    // Artwork and enclosures live on every podcast host there is.
    `img-src 'self'${api} https: data:`,
    `media-src 'self'${api} https: http: blob:`,
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
  ].join("; ");
  return {
    name: "tmm-csp",
    apply: "build",
    transformIndexHtml: () => [
      { tag: "meta", attrs: { "http-equiv": "Content-Security-Policy", content: policy }, injectTo: "head-prepend" },
    ],
  };
}

export default defineConfig(({ mode }) => ({
  plugins: [react(), contentSecurityPolicy(loadEnv(mode, ".", "VITE_").VITE_API_ORIGIN ?? "")],
  server: {
    host: "127.0.0.1",
    port: 5173,
    proxy: Object.fromEntries(
      API_PREFIXES.map((prefix) => [
        prefix,
        {
          target: API,
          bypass: (req: { headers: Record<string, string | string[] | undefined> }) => {
            const accept = String(req.headers["accept"] ?? "");
            const page = accept.includes("text/html") && !prefix.startsWith("/docs");
            return page ? "/index.html" : undefined;
          },
        },
      ]),
    ),
  },
  build: { outDir: "dist", sourcemap: false, target: "es2022" },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
}));

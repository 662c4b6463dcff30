/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

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

export default defineConfig({
  plugins: [react()],
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
});

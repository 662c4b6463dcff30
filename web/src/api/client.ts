/**
 * The API client: openapi-fetch typed by schema.d.ts (generated from the API's own OpenAPI
 * document by scripts/openapi.sh), so a changed route or field breaks `npm run build`.
 *
 * Tokens: the access token lives in memory only (a script injected into the page could read
 * localStorage, and a reload is cheap: it refreshes). The refresh token is the API's HttpOnly
 * `tmm_refresh` cookie (`refresh_cookie: true`), which no script can read; refreshing sends the
 * `X-TMM-CSRF: 1` header the API requires. Refresh tokens rotate and a reused one ends the
 * session, so refreshes are serialised across tabs with the Web Locks API.
 */
import createClient from "openapi-fetch";
import type { Readable } from "openapi-typescript-helpers";

import type { components, paths } from "./schema";

/** The API's shapes as responses read them (what openapi-fetch's `data` is typed as). */
export type Schemas = { [K in keyof components["schemas"]]: Readable<components["schemas"][K]> };

/** The API's origin: empty means the page's own origin (`make run`, the dev proxy). */
export const API_ORIGIN: string = (import.meta.env.VITE_API_ORIGIN ?? "").replace(/\/+$/, "");

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The sentence to show for an API error body ({error: {code, message}}) or anything else. */
export function errorOf(body: unknown, status: number): ApiError {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (e && typeof e.message === "string" && e.message) {
    return new ApiError(e.message, typeof e.code === "string" ? e.code : "error", status);
  }
  if (status === 0) {
    return new ApiError("The server could not be reached. Check your connection and try again.", "network", 0);
  }
  return new ApiError(`The server answered with an error (HTTP ${status}). Try again shortly.`, "http_error", status);
}

export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message || "Something went wrong.";
  return "Something went wrong.";
}

type TokenOut = Schemas["TokenOut"];

interface Session {
  accessToken: string;
  expiresAt: number;
  sessionId: string;
}

let session: Session | null = null;
let refreshing: Promise<boolean> | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
const listeners = new Set<(signedIn: boolean) => void>();

export function onAuthChange(listener: (signedIn: boolean) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function accessToken(): string | null {
  return session?.accessToken ?? null;
}

export function currentSessionId(): string | null {
  return session?.sessionId ?? null;
}

// Whether this browser holds a session cookie, as far as the app knows (the cookie itself is
// HttpOnly): a visitor who never signed in is not sent through a refresh on every page load,
// which would only answer 401 and spend the per-address auth rate limit.
const HINT_KEY = "tmm.session";

export function mayHaveSession(): boolean {
  try {
    return localStorage.getItem(HINT_KEY) === "1";
  } catch {
    return true;
  }
}

function hint(signedIn: boolean): void {
  try {
    if (signedIn) localStorage.setItem(HINT_KEY, "1");
    else localStorage.removeItem(HINT_KEY);
  } catch {
    /* storage unavailable: refresh on every load instead */
  }
}

/** Keep the tokens a login, sign-up or refresh returned (the refresh token stays in the cookie). */
export function setTokens(tokens: TokenOut | null): void {
  clearTimeout(refreshTimer);
  hint(tokens !== null);
  session = tokens
    ? {
        accessToken: tokens.access_token,
        expiresAt: Date.now() + tokens.expires_in * 1000,
        sessionId: tokens.session_id,
      }
    : null;
  if (tokens) {
    // Refresh a little before expiry so requests rarely meet a 401.
    const inMs = Math.max(5_000, (tokens.expires_in - 30) * 1000);
    refreshTimer = setTimeout(() => void refresh(), inMs);
  }
  for (const listener of listeners) listener(session !== null);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function refreshOnce(): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(`${API_ORIGIN}/auth/refresh`, {
        method: "POST",
        credentials: "include",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-TMM-CSRF": "1" },
        body: JSON.stringify({ refresh_cookie: true }),
      });
    } catch {
      return session !== null; // offline: keep what we have
    }
    if (response.ok) {
      setTokens((await response.json()) as TokenOut);
      return true;
    }
    // Throttled or briefly unavailable: the session is still good, so wait and ask again
    // rather than signing the listener out. Only a refusal of the token itself ends it.
    if ((response.status === 429 || response.status === 503) && attempt < 2) {
      const wait = Number(response.headers.get("Retry-After"));
      await sleep(Math.min(Number.isFinite(wait) && wait > 0 ? wait : 1, 10) * 1000);
      continue;
    }
    if (response.status === 401 || response.status === 403) setTokens(null);
    return false;
  }
}

/** Trade the refresh cookie for a new access token; false when there is no session. */
export function refresh(): Promise<boolean> {
  if (!refreshing) {
    const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
    const run = locks ? locks.request("tmm-refresh", () => refreshOnce()).then((ok) => ok) : refreshOnce();
    refreshing = run.finally(() => {
      refreshing = null;
    });
  }
  return refreshing!;
}

async function send(request: Request): Promise<Response> {
  const retry = request.clone();
  const withToken = (r: Request): Request => {
    const token = accessToken();
    if (token) r.headers.set("Authorization", `Bearer ${token}`);
    return r;
  };
  const response = await fetch(withToken(request));
  const isAuthRoute = new URL(request.url).pathname.startsWith("/auth/");
  if (response.status === 401 && session && !isAuthRoute) {
    // The access token expired (or the tab slept through its refresh): refresh once, retry.
    if (await refresh()) return fetch(withToken(retry));
  }
  return response;
}

export const api = createClient<paths>({
  baseUrl: API_ORIGIN,
  headers: { Accept: "application/json" },
  credentials: "include",
  fetch: send,
});

/**
 * The data of an openapi-fetch result, or an ApiError carrying the API's message. Network
 * failures become an ApiError with a sentence too.
 */
export async function call<T>(
  pending: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await pending;
  } catch {
    throw errorOf(null, 0);
  }
  if (!result.response.ok) throw errorOf(result.error, result.response.status);
  return result.data as T;
}

/** A download of an authorised GET (exports need the access token, so a plain link won't do). */
export async function download(path: string, filename: string): Promise<void> {
  const response = await send(new Request(`${API_ORIGIN}${path}`, { credentials: "include" }));
  if (!response.ok) {
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      /* not JSON */
    }
    throw errorOf(body, response.status);
  }
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

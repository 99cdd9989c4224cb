// The one way the UI talks HTTP to the server: credentials, JSON, the API's error body.
//
// What the browser keeps (see README, "Web UI"):
// - localStorage holds the session token (the JWT from /api/auth/login) so a reload stays signed in;
//   it expires with the token (jwt_expiry_minutes) and Log out revokes it on the server;
// - an API key typed in is kept in sessionStorage only: gone when the tab closes, never written to
//   localStorage, because it does not expire on its own;
// - nothing else secret: form settings and the last seed (prefs.js) are not credentials.

export const TOKEN_KEY = "sdcpp-rest.token";
const API_KEY_KEY = "sdcpp-rest.api-key";

/** Where the page was served from: API paths are relative to it, so a path prefix works. */
export const BASE = new URL(".", window.location.href);

export function url(path, query) {
  const target = new URL(path.replace(/^\//, ""), BASE);
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    target.searchParams.set(key, String(value));
  }
  return target;
}

export const session = {
  get token() {
    return localStorage.getItem(TOKEN_KEY);
  },
  get apiKey() {
    return sessionStorage.getItem(API_KEY_KEY);
  },
  get hasCredential() {
    return Boolean(this.token || this.apiKey);
  },
  useToken(token) {
    sessionStorage.removeItem(API_KEY_KEY);
    localStorage.setItem(TOKEN_KEY, token);
  },
  useApiKey(key) {
    localStorage.removeItem(TOKEN_KEY);
    sessionStorage.setItem(API_KEY_KEY, key);
  },
  forget() {
    localStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(API_KEY_KEY);
  },
  /** Seconds since the epoch when the stored JWT expires (its `exp` claim), or null. */
  tokenExpiry() {
    const token = this.token;
    if (!token) return null;
    try {
      const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), "="))).exp;
    } catch {
      return null;
    }
  },
};

export function authHeaders() {
  if (session.token) return { Authorization: `Bearer ${session.token}` };
  if (session.apiKey) return { "X-API-Key": session.apiKey };
  return {};
}

/** An error reply of the API: `{"error": {message, code, status_code, ...}}`, or a network failure. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * fetch + JSON + the API's error body. `body` is sent as JSON. A 401 while a credential was sent
 * means it expired or was revoked: the page is told (event "sdcpp:unauthorized") and shows the login.
 */
export async function api(path, { method = "GET", body, query, signal } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  const init = { method, headers, signal };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const sentCredential = session.hasCredential;
  let response;
  try {
    response = await fetch(url(path, query), init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "NETWORK", "The server cannot be reached. Is it running?");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data && data.error;
    if (response.status === 401 && sentCredential) {
      window.dispatchEvent(new CustomEvent("sdcpp:unauthorized"));
    }
    throw new ApiError(
      response.status,
      (error && error.code) || `HTTP_${response.status}`,
      (error && error.message) || `${response.status} ${response.statusText || "error"}`,
    );
  }
  return data;
}

/**
 * Splits an API error message into the fields it names. The API's validation messages start with
 * the field ("width: must be a multiple of 8; steps: ..."), other errors often name it first
 * ("password must have at least 8 characters"). `known` is the set of field names the form has;
 * "loras.0.weight" falls back to "loras" when only that is known.
 * Returns {fields: Map(field -> message), rest: [messages naming no known field]}.
 */
export function splitFieldErrors(message, known) {
  const fields = new Map();
  const rest = [];
  for (const part of String(message).split("; ")) {
    const match = /^([A-Za-z_][\w]*(?:\.[\w]+)*)(:\s*|\s+)([\s\S]*)$/.exec(part);
    const name = match ? knownPrefix(match[1], known) : null;
    if (!name) {
      rest.push(part);
      continue;
    }
    // "field: message" shows the message; "field must ..." reads as a sentence, shown whole.
    const text = match[2].startsWith(":") ? match[3] : part;
    fields.set(name, fields.has(name) ? `${fields.get(name)}; ${text}` : text);
  }
  return { fields, rest };
}

export function knownPrefix(path, known) {
  const parts = path.split(".");
  for (let n = parts.length; n > 0; n -= 1) {
    const candidate = parts.slice(0, n).join(".");
    if (known.has(candidate)) return candidate;
  }
  return null;
}

/** Reads a same-origin image (an output) as a data: URL with its size, for an image input. */
export async function imageAsDataUrl(source) {
  const response = await fetch(url(source), { headers: authHeaders() });
  if (!response.ok) throw new ApiError(response.status, "FETCH_FAILED", `could not read ${source}`);
  return blobAsImage(await response.blob());
}

/** A Blob or File as {dataUrl, width, height}. */
export function blobAsImage(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onerror = () => reject(new Error("the file could not be read"));
    reader.onload = () => {
      const image = new Image();
      image.onload = () =>
        resolve({ dataUrl: reader.result, width: image.naturalWidth, height: image.naturalHeight });
      image.onerror = () => reject(new Error("this file is not an image the browser can show"));
      image.src = reader.result;
    };
    reader.readAsDataURL(blob);
  });
}

// The REST API as the page uses it: session cookie plus the CSRF token, JSON in and out,
// and every failure turned into an ApiError that says in words what happened.

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export class ApiError extends Error {
  constructor(status, body, words) {
    super(words);
    this.status = status;
    this.body = body || {};
  }
  get leaseLost() { return this.status === 409 && !(this.body.errors && this.body.errors.instructions); }
}

/** `fetch` for the API: resolves to {status, body}; throws ApiError on 4xx/5xx and network failure. */
export async function api(method, url, data, { keepalive = false } = {}) {
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: "same-origin",
      keepalive,
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: data === undefined ? undefined : JSON.stringify(data),
    });
  } catch (error) {
    throw new ApiError(0, null, "The server cannot be reached: check your connection. Your work stays here and is saved again when it is back.");
  }
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { detail: text.slice(0, 200) }; }
  if (!response.ok) throw new ApiError(response.status, body, describe(response.status, body));
  return { status: response.status, body };
}

/** An API error in words a person understands, with the server's own explanation after it. */
export function describe(status, body) {
  const detail = (body && body.detail) || "";
  const fieldErrors = body && body.errors ? Object.entries(body.errors)
    .filter(([, v]) => Array.isArray(v))
    .map(([field, v]) => `${field}: ${v.slice(0, 5).join(" ")}${v.length > 5 ? ` (and ${v.length - 5} more)` : ""}`) : [];
  switch (status) {
    case 400:
      return `Some labels are not valid yet, so nothing was stored: ${fieldErrors.join(" ") || detail} Fix them and submit again.`;
    case 401:
    case 403:
      return `You are signed out or no longer work on this project (${detail}). Sign in again; your work is kept in this browser.`;
    case 404:
      return `This task no longer exists for you (${detail}).`;
    case 409:
      return `This image is no longer yours to label: ${detail}`;
    case 413:
      return "The draft is too large to save.";
    case 429:
      return "Too many requests: wait a moment and try again.";
    default:
      return `The server had a problem (${status}${detail ? `: ${detail}` : ""}). Your work stays here; try again in a moment.`;
  }
}

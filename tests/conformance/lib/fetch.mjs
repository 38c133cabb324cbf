// A fetch with short timeouts, for the SDK's `fetch` option: undici's own fetch on an `Agent` whose
// `headersTimeout` (until the response headers are complete) and `bodyTimeout` (between two body
// chunks) are a few seconds instead of Node's default 300 s.
//
// The SDK hands its fetch a `Request` built with Node's global (bundled) `Request` class, which the
// npm undici's `fetch` does not recognise as its own; so the request is taken apart and passed on
// as a URL plus init.

import { Agent, fetch as undiciFetch } from "undici";

export function shortTimeoutFetch(timeoutMs) {
  const agent = new Agent({ headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const fetchWithTimeouts = async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const body = ["GET", "HEAD"].includes(request.method) ? undefined : await request.arrayBuffer();
    return undiciFetch(request.url, {
      method: request.method,
      headers: Array.from(request.headers),
      body: body && body.byteLength > 0 ? body : undefined,
      redirect: request.redirect,
      signal: request.signal,
      dispatcher: agent,
    });
  };
  fetchWithTimeouts.close = () => agent.close();
  return fetchWithTimeouts;
}

/** The undici error code behind a failed fetch (`UND_ERR_HEADERS_TIMEOUT`, ...), if any. */
export function errorCode(error) {
  for (let e = error; e; e = e.cause) {
    if (typeof e.code === "string") return e.code;
  }
  return undefined;
}

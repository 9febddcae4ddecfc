// The host interface (`weft:component/host@0.1.0`) for a component's unit tests under Node.js:
// `weft component test` bundles the tests with this module in place of the real host's imports,
// and every call goes to the `FakeHost` that `run` (see `testing.ts`) installed.

import { currentHost } from "./testing";

type Level = "debug" | "info" | "warn" | "error";

export function log(level: Level, message: string): void {
  currentHost().logs.push({ level, message });
}

export function httpSend(request: {
  method: string;
  url: string;
  headers: Array<[string, string]>;
  body: Uint8Array | null | undefined;
  timeoutMs: number | null | undefined;
}) {
  const host = currentHost();
  const body = request.body ? Buffer.from(request.body).toString("utf8") : "";
  const seen = {
    method: request.method,
    url: request.url,
    headers: Object.fromEntries(request.headers.map(([k, v]) => [k.toLowerCase(), v])),
    body,
  };
  host.requests.push(seen);
  const reply = host.responder(seen);
  if (reply.error) throw { kind: reply.error.kind, message: reply.error.message };
  const text = reply.json !== undefined ? JSON.stringify(reply.json) : (reply.body ?? "");
  const headers: Array<[string, string]> = Object.entries(reply.headers ?? {});
  if (reply.json !== undefined) headers.push(["content-type", "application/json"]);
  return { status: reply.status ?? 200, headers, body: new Uint8Array(Buffer.from(text, "utf8")) };
}

export function stateGet(key: string): string | null {
  const value = currentHost().state.get(key);
  return value === undefined ? null : JSON.stringify(value);
}

export function stateSet(key: string, value: string): void {
  currentHost().state.set(key, JSON.parse(value));
}

export function stateDelete(key: string): void {
  currentHost().state.delete(key);
}

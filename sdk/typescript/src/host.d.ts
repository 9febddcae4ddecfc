// The host interface of `wit/weft-component.wit` (`weft:component/host@0.1.0`), as the
// component's JavaScript sees it. A host function whose WIT result is `result<T, E>` returns T
// or throws an error whose `payload` is E.
declare module "weft:component/host@0.1.0" {
  export type Level = "debug" | "info" | "warn" | "error";
  export function log(level: Level, message: string): void;

  export interface HttpRequest {
    method: string;
    url: string;
    headers: Array<[string, string]>;
    body: Uint8Array | undefined;
    timeoutMs: number | undefined;
  }
  export interface HttpResponse {
    status: number;
    headers: Array<[string, string]>;
    body: Uint8Array;
  }
  export interface HttpError {
    kind: "invalid-request" | "egress-denied" | "connection" | "timeout" | "too-large";
    message: string;
  }
  export function httpSend(request: HttpRequest): HttpResponse;
  export function stateGet(key: string): string | undefined;
  export function stateSet(key: string, value: string): void;
  export function stateDelete(key: string): void;
}

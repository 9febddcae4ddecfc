// The Weft SDK for TypeScript: write a Weft custom component in TypeScript.
//
// A component is the object `component({...})` returns, exported as `guest`:
//
//   import { action, component, input } from "@weft/sdk";
//
//   export const guest = component({
//     key: "hello",
//     display: { label: "Hello", description: "Greets people." },
//     version: "1.0.0",
//     actions: {
//       greet: action({
//         display: { label: "Greet", description: "Greets someone by name." },
//         inputs: { name: input({ label: "Name", type: "string", required: true }) },
//         perform: (context, params) => ({ data: { greeting: `Hello, ${params.name}!` } }),
//       }),
//     },
//   });
//
// `weft component build` bundles it (esbuild) and turns it into a WebAssembly component of the
// world `weft:component/component` (componentize-qjs: QuickJS compiled to WebAssembly, the
// engine of Weft's code step), which runs in the same sandbox as a Rust component: a fresh
// instance per call, with memory, time and output limits.
//
// Calls are synchronous: `perform` returns its result (no `async`), and the host's services —
// `http`, `log`, `state` — answer at once. `console.log` and friends go to the execution's log.

/// <reference path="./host.d.ts" />
/// <reference path="./globals.d.ts" />
import * as host from "weft:component/host@0.1.0";

/** The type of an input, as in the wizard and the flow editor. */
export type InputType =
  | "string"
  | "number"
  | "boolean"
  | "json"
  | "secret"
  | "picklist"
  | "connection"
  | "date"
  | "key-value-list";

export interface Choice {
  value: string;
  label: string;
}

export interface InputDefinition {
  /** Shown next to the field (default: the input's key). */
  label?: string;
  type: InputType;
  required?: boolean;
  /** The value used when the step gives none (any JSON value). */
  default?: unknown;
  /** Help text. */
  comments?: string;
  /** A picklist's fixed choices. */
  choices?: Choice[];
  /** A dynamic picklist's data source (its key in `dataSources`). */
  dataSource?: string;
}

/** An input of an action, trigger, data source or connection. */
export function input(definition: InputDefinition): InputDefinition {
  return definition;
}

export interface Display {
  label: string;
  description?: string;
}

/** The WIT `context` record, as the host passes it. */
interface WitContext {
  executionId: string;
  instanceId: string;
  customerId: string;
  flowKey: string;
  stepPath: string;
  /** Derived from execution and step: the same on every attempt of this step. */
  idempotencyKey: string;
  attempt: number;
  webhookUrls: Array<[string, string]>;
}

/** What a call knows about the execution it runs in. */
export interface Context extends Omit<WitContext, "webhookUrls"> {
  /** The instance's webhook URLs by flow key. */
  webhookUrls: Record<string, string>;
  /** The step's connection values (`null` without a connection). */
  connection: Record<string, unknown> | null;
}

/** The params of a call: its inputs by key (JSON values). */
export type Params = Record<string, any>;

export interface ActionDefinition {
  display: Display;
  inputs?: Record<string, InputDefinition>;
  perform(context: Context, params: Params): { data: unknown };
}

export interface PollResult {
  /** New records since `cursor`, each becoming one execution. */
  records: unknown[];
  /** Where the next poll starts (kept by Weft); `undefined` keeps the current one. */
  nextCursor?: unknown;
}

export interface TriggerDefinition {
  display: Display;
  inputs?: Record<string, InputDefinition>;
  poll(context: Context, params: Params, cursor: unknown): PollResult;
}

export interface DataSourceDefinition {
  display: Display;
  inputs?: Record<string, InputDefinition>;
  /** A picklist's data source returns a list of `{value, label}` as `result`. */
  perform(context: Context, params: Params): { result: unknown };
}

export type ConnectionKind =
  | "api-key"
  | "basic"
  | "bearer"
  | "custom"
  | "oauth2-authorization-code"
  | "oauth2-client-credentials";

export interface ConnectionDefinition {
  display: Display;
  kind: ConnectionKind;
  fields?: Record<string, InputDefinition>;
  oauth2?: { authorizeUrl?: string; tokenUrl: string; scopes?: string[] };
}

export interface ComponentDefinition {
  /** How flows call it: `<key>.<action>`. Lower-case letters, digits, `-` and `_`. */
  key: string;
  display: Display & { icon?: string };
  /** A semantic version; a published version is immutable. */
  version: string;
  actions?: Record<string, ActionDefinition>;
  triggers?: Record<string, TriggerDefinition>;
  dataSources?: Record<string, DataSourceDefinition>;
  connections?: Record<string, ConnectionDefinition>;
}

export function action(definition: ActionDefinition): ActionDefinition {
  return definition;
}

export function trigger(definition: TriggerDefinition): TriggerDefinition {
  return definition;
}

export function dataSource(definition: DataSourceDefinition): DataSourceDefinition {
  return definition;
}

export function connection(definition: ConnectionDefinition): ConnectionDefinition {
  return definition;
}

/** How a step failed; the flow's error handling and retries look at it. */
export type ErrorKind =
  | "input"
  | "connection"
  | "timeout"
  | "rate-limited"
  | "server-error"
  | "http-status"
  | "auth"
  | "not-found"
  | "egress-denied"
  | "internal";

/** An error the step reports (throw it from `perform`); any other exception is `internal`. */
export class WeftError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly details?: unknown,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The execution's log (also where `console.*` goes). */
export const log = {
  debug: (message: string) => host.log("debug", message),
  info: (message: string) => host.log("info", message),
  warn: (message: string) => host.log("warn", message),
  error: (message: string) => host.log("error", message),
};

const show = (args: unknown[]) =>
  args.map((a) => (typeof a === "string" ? a : JSON.stringify(a) ?? String(a))).join(" ");
(globalThis as any).console = {
  log: (...args: unknown[]) => log.info(show(args)),
  info: (...args: unknown[]) => log.info(show(args)),
  debug: (...args: unknown[]) => log.debug(show(args)),
  warn: (...args: unknown[]) => log.warn(show(args)),
  error: (...args: unknown[]) => log.error(show(args)),
};

/** The payload of an error a host call threw (its WIT `err` value). */
function hostError(e: unknown): any {
  return e && typeof e === "object" && "payload" in e ? (e as any).payload : e;
}

/** Persisted key-value state of this component in the instance (values are JSON). */
export const state = {
  get(key: string): unknown {
    try {
      const value = host.stateGet(key);
      return value == null ? undefined : JSON.parse(value);
    } catch (e) {
      throw new WeftError("internal", `state.get("${key}"): ${hostError(e)}`);
    }
  },
  set(key: string, value: unknown): void {
    try {
      host.stateSet(key, JSON.stringify(value ?? null));
    } catch (e) {
      throw new WeftError("internal", `state.set("${key}"): ${hostError(e)}`);
    }
  },
  delete(key: string): void {
    try {
      host.stateDelete(key);
    } catch (e) {
      throw new WeftError("internal", `state.delete("${key}"): ${hostError(e)}`);
    }
  },
};

// UTF-8 for request and response bodies (QuickJS has no TextEncoder/TextDecoder).
function utf8Encode(text: string): Uint8Array {
  const binary = unescape(encodeURIComponent(text));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function utf8Decode(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  try {
    return decodeURIComponent(escape(binary));
  } catch {
    throw new WeftError("server-error", "the response body is not valid UTF-8 text");
  }
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Sent as JSON (with `content-type: application/json`). */
  json?: unknown;
  /** Sent as it is. */
  body?: string | Uint8Array;
  timeoutMs?: number;
}

export interface HttpReply {
  status: number;
  headers: Record<string, string>;
  text(): string;
  json(): any;
}

const HTTP_ERROR_KINDS: Record<string, ErrorKind> = {
  "invalid-request": "input",
  "egress-denied": "egress-denied",
  connection: "connection",
  timeout: "timeout",
  "too-large": "internal",
};

/**
 * Outbound HTTP through the host's egress guard. Any status is an answer; a request that
 * cannot be made (refused by the guard, no connection, timeout) throws a `WeftError`.
 */
export function http(url: string, options: HttpOptions = {}): HttpReply {
  const headers: Array<[string, string]> = Object.entries(options.headers ?? {});
  let body: Uint8Array | null = null;
  if (options.json !== undefined) {
    body = utf8Encode(JSON.stringify(options.json));
    if (!headers.some(([k]) => k.toLowerCase() === "content-type")) headers.push(["content-type", "application/json"]);
  } else if (typeof options.body === "string") {
    body = utf8Encode(options.body);
  } else if (options.body) {
    body = options.body;
  }
  let response: host.HttpResponse;
  try {
    response = host.httpSend({
      method: options.method ?? (body ? "POST" : "GET"),
      url,
      headers,
      body: body as any,
      timeoutMs: (options.timeoutMs ?? null) as any,
    });
  } catch (e) {
    const err = hostError(e);
    throw new WeftError(HTTP_ERROR_KINDS[err?.kind] ?? "connection", err?.message ?? String(err));
  }
  const text = () => utf8Decode(response.body);
  return {
    status: response.status,
    headers: Object.fromEntries(response.headers.map(([k, v]) => [k.toLowerCase(), v])),
    text,
    json: () => {
      try {
        return JSON.parse(text());
      } catch {
        throw new WeftError("server-error", `${url} answered ${response.status} with a body that is not JSON`);
      }
    },
  };
}

// ---- The guest export: the WIT `guest` interface over the definitions above. ----

function inputSpecs(inputs: Record<string, InputDefinition> | undefined) {
  return Object.entries(inputs ?? {}).map(([key, i]) => ({
    key,
    label: i.label ?? key,
    type: i.type,
    required: i.required ?? false,
    default: i.default === undefined ? null : JSON.stringify(i.default),
    help: i.comments ?? null,
    choices: i.choices ?? [],
    dataSource: i.dataSource ?? null,
  }));
}

function specs(defs: Record<string, { display: Display; inputs?: Record<string, InputDefinition> }> | undefined) {
  return Object.entries(defs ?? {}).map(([key, d]) => ({
    key,
    name: d.display.label,
    description: d.display.description ?? "",
    inputs: inputSpecs(d.inputs),
  }));
}

function context(ctx: WitContext, connection: string | null): Context {
  return {
    executionId: ctx.executionId,
    instanceId: ctx.instanceId,
    customerId: ctx.customerId,
    flowKey: ctx.flowKey,
    stepPath: ctx.stepPath,
    idempotencyKey: ctx.idempotencyKey,
    attempt: ctx.attempt,
    webhookUrls: Object.fromEntries(ctx.webhookUrls),
    connection: connection == null ? null : JSON.parse(connection),
  };
}

/** The WIT `error` record for anything a call threw. */
function witError(e: unknown) {
  if (e instanceof WeftError) {
    return {
      kind: e.kind,
      message: e.message,
      details: e.details === undefined ? null : JSON.stringify(e.details),
      retryAfterMs: e.retryAfterMs ?? null,
    };
  }
  const message = e instanceof Error ? `${e.name}: ${e.message}` : `uncaught: ${JSON.stringify(e) ?? String(e)}`;
  return { kind: "internal", message, details: null, retryAfterMs: null };
}

/** Runs `f`, turning what it throws into the WIT `error` the host expects. */
function guarded<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw witError(e);
  }
}

function find<T>(defs: Record<string, T> | undefined, key: string, what: string): T {
  const def = defs && Object.prototype.hasOwnProperty.call(defs, key) ? defs[key] : undefined;
  if (!def) throw new WeftError("input", `this component has no ${what} '${key}'`);
  return def;
}

function notThenable(value: unknown, what: string) {
  if (value && typeof (value as any).then === "function") {
    throw new WeftError("internal", `${what} returned a Promise: perform and poll must be synchronous (no async)`);
  }
}

/** The component: export it as `guest`. */
export function component(definition: ComponentDefinition) {
  return {
    describe() {
      return {
        key: definition.key,
        name: definition.display.label,
        version: definition.version,
        description: definition.display.description ?? "",
        icon: definition.display.icon ?? null,
        actions: specs(definition.actions),
        triggers: specs(definition.triggers),
        dataSources: specs(definition.dataSources),
        connections: Object.entries(definition.connections ?? {}).map(([key, c]) => ({
          key,
          name: c.display.label,
          description: c.display.description ?? "",
          kind: c.kind,
          fields: inputSpecs(c.fields),
          oauth2: c.oauth2
            ? { authorizeUrl: c.oauth2.authorizeUrl ?? null, tokenUrl: c.oauth2.tokenUrl, scopes: c.oauth2.scopes ?? [] }
            : null,
        })),
      };
    },
    runAction(key: string, inputs: string, connection: string | null, ctx: WitContext): string {
      return guarded(() => {
        const def = find(definition.actions, key, "action");
        const out = def.perform(context(ctx, connection), JSON.parse(inputs));
        notThenable(out, `action '${key}'`);
        if (!out || typeof out !== "object" || !("data" in out)) {
          throw new WeftError("internal", `action '${key}' must return { data: ... }`);
        }
        return JSON.stringify(out.data ?? null);
      });
    },
    poll(key: string, inputs: string, connection: string | null, cursor: string | null, ctx: WitContext) {
      return guarded(() => {
        const def = find(definition.triggers, key, "poll trigger");
        const out = def.poll(context(ctx, connection), JSON.parse(inputs), cursor == null ? undefined : JSON.parse(cursor));
        notThenable(out, `trigger '${key}'`);
        if (!out || !Array.isArray(out.records)) {
          throw new WeftError("internal", `trigger '${key}' must return { records: [...], nextCursor? }`);
        }
        return {
          records: out.records.map((r) => JSON.stringify(r ?? null)),
          nextCursor: out.nextCursor === undefined ? null : JSON.stringify(out.nextCursor),
        };
      });
    },
    dataSource(key: string, inputs: string, connection: string | null, ctx: WitContext): string {
      return guarded(() => {
        const def = find(definition.dataSources, key, "data source");
        const out = def.perform(context(ctx, connection), JSON.parse(inputs));
        notThenable(out, `data source '${key}'`);
        if (!out || typeof out !== "object" || !("result" in out)) {
          throw new WeftError("internal", `data source '${key}' must return { result: ... }`);
        }
        return JSON.stringify(out.result ?? null);
      });
    },
  };
}

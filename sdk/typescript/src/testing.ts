// Unit tests of a component without a server, under Node.js (`weft component test` runs
// `src/**/*.test.ts` with `node --test`): `run` (actions), `runPoll` (poll triggers) and
// `runDataSource` call the component as the host would — inputs and output through JSON, errors
// as `WeftError` — against a `FakeHost` that records log lines and outbound requests, keeps
// state in memory and answers requests with a responder.
//
//   import { test } from "node:test";
//   import assert from "node:assert/strict";
//   import { FakeHost, run } from "@weft/sdk/testing";
//   import { guest } from "./index";
//
//   test("greets", () => {
//     const host = new FakeHost();
//     assert.deepEqual(run(guest, "hello", { name: "Ada" }, { host }), { greeting: "Hello, Ada!" });
//   });

import { WeftError, type ErrorKind } from "./index";

export interface FakeRequest {
  method: string;
  url: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: string;
}

export interface FakeReply {
  status?: number;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  json?: unknown;
  body?: string;
  /** The request fails instead (as the egress guard or the network would fail it). */
  error?: { kind: "invalid-request" | "egress-denied" | "connection" | "timeout" | "too-large"; message: string };
}

export class FakeHost {
  readonly logs: Array<{ level: string; message: string }> = [];
  readonly requests: FakeRequest[] = [];
  readonly state = new Map<string, unknown>();
  constructor(
    public responder: (request: FakeRequest) => FakeReply = (r) => ({
      error: { kind: "connection", message: `no fake response for ${r.method} ${r.url}` },
    }),
  ) {}
}

let installed: FakeHost | undefined;

/** The host of the call in progress (used by the fake host module). */
export function currentHost(): FakeHost {
  if (!installed) throw new Error("a host function was called outside `run` (see @weft/sdk/testing)");
  return installed;
}

interface Guest {
  runAction(action: string, inputs: string, connection: string | null, ctx: any): string;
  poll(trigger: string, inputs: string, connection: string | null, cursor: string | null, ctx: any): any;
  dataSource(key: string, inputs: string, connection: string | null, ctx: any): string;
}

export interface RunOptions {
  host?: FakeHost;
  /** The step's connection values. */
  connection?: Record<string, unknown>;
  executionId?: string;
  attempt?: number;
}

/** Calls `f` with the host installed and the WIT context, as the host calls the component. */
function call<T>(options: RunOptions, f: (connection: string | null, ctx: any) => T): T {
  installed = options.host ?? new FakeHost();
  const ctx = {
    executionId: options.executionId ?? "exe_test",
    instanceId: "ins_test",
    customerId: "cus_test",
    flowKey: "flow",
    stepPath: "step",
    idempotencyKey: `${options.executionId ?? "exe_test"}:step`,
    attempt: options.attempt ?? 1,
    webhookUrls: [],
  };
  try {
    return f(options.connection ? JSON.stringify(options.connection) : null, ctx);
  } catch (e: any) {
    if (e && typeof e === "object" && typeof e.kind === "string" && typeof e.message === "string") {
      throw new WeftError(e.kind as ErrorKind, e.message, e.details == null ? undefined : JSON.parse(e.details));
    }
    throw e;
  } finally {
    installed = undefined;
  }
}

/** Runs `action` of `guest` with `params`; returns its output, or throws its `WeftError`. */
export function run(guest: Guest, action: string, params: Record<string, unknown>, options: RunOptions = {}): any {
  return call(options, (connection, ctx) => JSON.parse(guest.runAction(action, JSON.stringify(params), connection, ctx)));
}

/** Polls `trigger` once from `cursor`; returns the new records and the next cursor. */
export function runPoll(
  guest: Guest,
  trigger: string,
  params: Record<string, unknown>,
  cursor?: unknown,
  options: RunOptions = {},
): { records: any[]; nextCursor: any } {
  return call(options, (connection, ctx) => {
    const out = guest.poll(trigger, JSON.stringify(params), connection, cursor === undefined ? null : JSON.stringify(cursor), ctx);
    return {
      records: out.records.map((r: string) => JSON.parse(r)),
      nextCursor: out.nextCursor == null ? undefined : JSON.parse(out.nextCursor),
    };
  });
}

/** Runs data source `key`; returns its result (a picklist's `{value, label}` list). */
export function runDataSource(guest: Guest, key: string, params: Record<string, unknown>, options: RunOptions = {}): any {
  return call(options, (connection, ctx) => JSON.parse(guest.dataSource(key, JSON.stringify(params), connection, ctx)));
}

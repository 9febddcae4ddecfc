// Unit tests of the example, without a server: `weft component test sdk/typescript/examples/orders`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeHost, run, runDataSource, runPoll } from "../../../src/testing";
import { guest } from "./index";

test("summarize totals the lines", () => {
  const out = run(guest, "summarize", { lines: [{ sku: "ab-1", qty: 2, price: 30.25 }, { sku: "cd-2", price: 49.5 }] });
  assert.deepEqual(out, {
    lines: [
      { sku: "AB-1", qty: 2, subtotal: 60.5 },
      { sku: "CD-2", qty: 1, subtotal: 49.5 },
    ],
    total: 110,
    units: 3,
    currency: "EUR",
  });
});

test("summarize names the bad line", () => {
  assert.throws(() => run(guest, "summarize", { lines: [{ sku: "a" }, { qty: 1 }] }), {
    kind: "input",
    message: "line 2 has no sku",
  });
  assert.throws(() => run(guest, "summarize", { lines: "nope" }), { kind: "input" });
});

test("number counts per host state and logs", () => {
  const host = new FakeHost();
  assert.deepEqual(run(guest, "number", {}, { host, executionId: "exe_1" }), { number: "ORD-00001" });
  assert.deepEqual(run(guest, "number", { prefix: "A-" }, { host }), { number: "A-00002" });
  assert.equal(host.state.get("last"), 2);
  assert.deepEqual(host.logs.slice(0, 2), [
    { level: "info", message: "order number ORD-00001 for execution exe_1" },
    { level: "info", message: "attempt 1" },
  ]);
  // Another instance (another host) starts from 1.
  assert.deepEqual(run(guest, "number", {}), { number: "ORD-00001" });
});

test("new_orders polls from the cursor and moves it", () => {
  const host = new FakeHost((req) =>
    req.url === "https://shop.example/orders?since=7" ? { json: [{ id: 8 }, { id: 9 }] } : { status: 500 },
  );
  const out = runPoll(guest, "new_orders", { base_url: "https://shop.example" }, 7, { host });
  assert.deepEqual(out, { records: [{ id: 8 }, { id: 9 }], nextCursor: 9 });
  assert.equal(host.requests[0].method, "GET");
  const refused = new FakeHost(() => ({ status: 401 }));
  assert.throws(() => runPoll(guest, "new_orders", { base_url: "https://shop.example" }, undefined, { host: refused }), {
    kind: "auth",
  });
  const unreachable = new FakeHost(); // answers nothing: the request fails as a connection error
  assert.throws(() => runPoll(guest, "new_orders", { base_url: "https://shop.example" }, 1, { host: unreachable }), {
    kind: "connection",
  });
});

test("currencies lists picklist choices", () => {
  assert.deepEqual(runDataSource(guest, "currencies", {})[0], { value: "EUR", label: "Euro" });
});

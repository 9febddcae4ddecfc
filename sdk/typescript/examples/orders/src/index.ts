// Example Weft component in TypeScript: order tools.
//
// - `summarize`: an order's lines → SKUs upper-cased, line subtotals, the total and the count
//   of units; rejects a line without a SKU or with a negative quantity (an `input` error).
// - `number`: hands out the next order number of the instance (persisted state), logging it.
// - `echo`: returns its inputs (the trivial action of the invocation benchmark).
// - `new_orders` (poll trigger): orders created since the cursor, from a shop's REST API
//   (`GET {base_url}/orders?since=<id>`), each becoming one execution.
// - `currencies` (data source): the currencies a wizard picklist offers.

import { action, component, dataSource, http, input, log, state, trigger, WeftError } from "../../../src/index";

interface Line {
  sku?: unknown;
  qty?: unknown;
  price?: unknown;
}

export const guest = component({
  key: "orders-ts",
  display: { label: "Order tools", description: "Summarize orders and number them (TypeScript example)." },
  version: "0.1.0",
  actions: {
    summarize: action({
      display: { label: "Summarize an order", description: "Totals an order's lines." },
      inputs: {
        lines: input({ label: "Lines", type: "json", required: true, comments: "[{sku, qty, price}, ...]" }),
        currency: input({ label: "Currency", type: "string", default: "EUR" }),
      },
      perform: (_context, params) => {
        if (!Array.isArray(params.lines)) {
          throw new WeftError("input", "input 'lines' must be a list of {sku, qty, price}");
        }
        const lines = (params.lines as Line[]).map((line, i) => {
          if (typeof line.sku !== "string" || line.sku === "") {
            throw new WeftError("input", `line ${i + 1} has no sku`);
          }
          const qty = Number(line.qty ?? 1);
          const price = Number(line.price ?? 0);
          if (!Number.isFinite(qty) || qty < 0) throw new WeftError("input", `line ${i + 1} has a bad qty: ${line.qty}`);
          return { sku: line.sku.toUpperCase(), qty, subtotal: Math.round(qty * price * 100) / 100 };
        });
        const total = Math.round(lines.reduce((sum, l) => sum + l.subtotal, 0) * 100) / 100;
        const units = lines.reduce((sum, l) => sum + l.qty, 0);
        return { data: { lines, total, units, currency: params.currency ?? "EUR" } };
      },
    }),
    number: action({
      display: { label: "Next order number", description: "The instance's next order number." },
      inputs: { prefix: input({ label: "Prefix", type: "string", default: "ORD-" }) },
      perform: (context, params) => {
        const next = ((state.get("last") as number | undefined) ?? 0) + 1;
        state.set("last", next);
        const number = `${params.prefix ?? "ORD-"}${String(next).padStart(5, "0")}`;
        log.info(`order number ${number} for execution ${context.executionId}`);
        console.log("attempt", context.attempt);
        return { data: { number } };
      },
    }),
    echo: action({
      display: { label: "Echo", description: "Returns its inputs." },
      perform: (_context, params) => ({ data: params }),
    }),
  },
  triggers: {
    new_orders: trigger({
      display: { label: "New orders", description: "Orders created since the last poll." },
      inputs: { base_url: input({ label: "Shop API base URL", type: "string", required: true }) },
      poll: (_context, params, cursor) => {
        const since = typeof cursor === "number" ? cursor : 0;
        const reply = http(`${params.base_url}/orders?since=${since}`);
        if (reply.status === 401 || reply.status === 403) {
          throw new WeftError("auth", `the shop API refused the request (${reply.status})`);
        }
        if (reply.status !== 200) throw new WeftError("http-status", `the shop API answered ${reply.status}`);
        const orders = reply.json() as Array<{ id: number }>;
        const last = orders.reduce((max, o) => Math.max(max, o.id), since);
        return { records: orders, nextCursor: last };
      },
    }),
  },
  dataSources: {
    currencies: dataSource({
      display: { label: "Currencies", description: "Currencies for a picklist." },
      perform: () => ({
        result: [
          { value: "EUR", label: "Euro" },
          { value: "USD", label: "US dollar" },
          { value: "GBP", label: "Pound sterling" },
        ],
      }),
    }),
  },
});

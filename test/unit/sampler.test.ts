/**
 * Sampler: the kept share matches the rate over many windows, per agent type; novelty is
 * always scored; decisions depend only on (host, agentId, seq), so scorers and replays agree.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { WindowRecord } from "../../src/contracts/index.js";
import { ErrorCodes, isVigilError } from "../../src/errors.js";
import { Sampler } from "../../src/scorer/sampler.js";
import { makeWindow } from "../helpers/messages.js";

const N = 10_000;
const windows = (over: Partial<WindowRecord> = {}) =>
  Array.from({ length: N }, (_, i) => makeWindow(i, over));

/** Kept share over N windows: within 4 standard deviations of the rate (binomial). */
function assertRate(sampler: Sampler, ws: WindowRecord[], rate: number): void {
  const kept = ws.filter((w) => sampler.decide(w, false) === "sampled").length;
  const sd = Math.sqrt((rate * (1 - rate)) / ws.length);
  const share = kept / ws.length;
  assert.ok(Math.abs(share - rate) <= 4 * sd + 1e-12, `kept ${share}, rate ${rate}`);
}

test("sampler - the kept share matches the rate over 10,000 windows", () => {
  for (const rate of [0.01, 0.1, 0.25, 0.5, 0.9]) {
    assertRate(new Sampler({ defaultRate: rate, rates: {} }), windows(), rate);
  }
  // many instances, a few windows each: the share holds across instances too
  const spread = Array.from({ length: N }, (_, i) =>
    makeWindow(i % 20, { agentId: `agent-${Math.floor(i / 20)}`, host: `web-${i % 7}` }),
  );
  assertRate(new Sampler({ defaultRate: 0.2, rates: {} }), spread, 0.2);
});

test("sampler - rates per agent type, the default for the others; 0 and 1 are exact", () => {
  const sampler = new Sampler({ defaultRate: 0.3, rates: { "browser-agent": 0.05, noisy: 0 } });
  assert.equal(sampler.rate("browser-agent"), 0.05);
  assert.equal(sampler.rate("coding-agent"), 0.3);
  assertRate(sampler, windows({ agentType: "browser-agent" }), 0.05);
  assertRate(sampler, windows(), 0.3);
  assert.ok(windows({ agentType: "noisy" }).every((w) => sampler.decide(w, false) === "skip"));
  const all = new Sampler({ defaultRate: 1, rates: {} });
  assert.ok(windows().every((w) => all.decide(w, false) === "sampled"));
});

test("sampler - windows carrying novelty are always scored", () => {
  const none = new Sampler({ defaultRate: 0, rates: { "coding-agent": 0 } });
  assert.ok(windows().every((w) => none.decide(w, true) === "novelty"));
  const half = new Sampler({ defaultRate: 0.5, rates: {} });
  assert.ok(windows().every((w) => half.decide(w, true) === "novelty"));
});

test("sampler - deterministic in (host, agentId, seq): scorers and replays agree", () => {
  const a = new Sampler({ defaultRate: 0.5, rates: {} });
  const b = new Sampler({ defaultRate: 0.5, rates: {} });
  const ws = windows();
  const first = ws.map((w) => a.decide(w, false));
  assert.deepEqual(
    ws.map((w) => b.decide(w, false)),
    first,
  );
  // a replay: the same windows at other times, other pids, other content
  const replayed = ws.map((w) => ({ ...w, start: w.end, pid: 1, execs: [], final: true }));
  assert.deepEqual(
    replayed.map((w) => a.decide(w, false)),
    first,
  );
  // another instance or host is sampled independently
  const other = windows({ agentId: "9e1c" }).map((w) => a.decide(w, false));
  const same = other.filter((d, i) => d === first[i]).length / N;
  assert.ok(Math.abs(same - 0.5) < 0.05, `agreement ${same} with another instance`);
  const host = windows({ host: "web-2" }).map((w) => a.decide(w, false));
  assert.ok(Math.abs(host.filter((d, i) => d === first[i]).length / N - 0.5) < 0.05);
});

test("sampler - a lower rate keeps a subset of what a higher rate keeps", () => {
  const low = new Sampler({ defaultRate: 0.1, rates: {} });
  const high = new Sampler({ defaultRate: 0.4, rates: {} });
  for (const w of windows()) {
    if (low.decide(w, false) === "sampled") assert.equal(high.decide(w, false), "sampled");
  }
});

test("sampler - rates outside 0..1 fail at construction with CONFIG_INVALID", () => {
  for (const options of [
    { defaultRate: 1.5, rates: {} },
    { defaultRate: -0.1, rates: {} },
    { defaultRate: Number.NaN, rates: {} },
    { defaultRate: 0.5, rates: { "coding-agent": 2 } },
  ]) {
    assert.throws(
      () => new Sampler(options),
      (e) => isVigilError(e, ErrorCodes.CONFIG_INVALID),
      JSON.stringify(options),
    );
  }
});

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AGENT_TYPES,
  ATTACK_VARIANTS,
  ATTACKS,
  planSession,
  startLlmServer,
} from "../../training/scenarios/index.js";
import { dnsQueryName } from "../../training/scenarios/services.js";

describe("scenario plans", () => {
  test("planSession - same seed, same plan; another seed, another plan", () => {
    for (const t of AGENT_TYPES) {
      const a = planSession(t, { seed: 5, sessionId: "s" });
      assert.deepEqual(planSession(t, { seed: 5, sessionId: "s" }), a);
      assert.notDeepEqual(planSession(t, { seed: 6, sessionId: "s" }).steps, a.steps);
      assert.ok(a.tasks >= 3 && a.tasks <= 8, `${a.tasks} tasks`);
    }
  });

  test("planSession - the attack sits between benign tasks, 1-4 steps, every variant reachable", () => {
    for (const name of ATTACKS) {
      const variants = new Set<number>();
      for (let seed = 0; seed < 60; seed++) {
        const t = AGENT_TYPES[seed % AGENT_TYPES.length] ?? "coding-agent";
        const plain = planSession(t, { seed, sessionId: "x", tasks: 4 });
        const p = planSession(t, { seed, sessionId: "x", tasks: 4, attack: name });
        assert.ok(p.attack);
        variants.add(p.attack.variant);
        assert.ok(p.attack.steps >= 1 && p.attack.steps <= 4, `${name}: ${p.attack.steps} steps`);
        assert.ok(p.attack.atStep > 0 && p.attack.atStep + p.attack.steps < p.steps.length);
        assert.equal(p.steps.length, plain.steps.length + p.attack.steps);
      }
      assert.equal(variants.size, ATTACK_VARIANTS[name], `${name}: variants seen`);
    }
  });

  test("planSession - only known placeholders and loopback URLs", () => {
    for (const t of AGENT_TYPES) {
      for (const attack of ATTACKS) {
        const p = planSession(t, { seed: 3, sessionId: "x", attack });
        const text = JSON.stringify(p.steps);
        for (const m of text.matchAll(/\{\{([A-Z_]+)\}\}/g)) {
          assert.ok(
            ["WEB", "SCRIPTS", "EXFIL_PORT", "DNS_PORT", "HOME", "TMP"].includes(m[1] ?? ""),
          );
        }
        for (const m of text.matchAll(/https?:\/\/([^/:"'\s]+)/g)) {
          assert.match(m[1] ?? "", /^(127\.0\.0\.1|\{\{[A-Z]+\}\})$/, m[0]);
        }
      }
    }
  });
});

describe("scripted model", () => {
  test("llm server - hands out the steps one per turn, then stops; records when", async () => {
    const llm = await startLlmServer();
    try {
      const steps = [{ name: "bash" as const, arguments: { command: "true" } }];
      llm.register("s1", { steps, seed: 1, thinkMs: [0, 5] });
      const post = (body: object) =>
        fetch(`${llm.url}/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      const messages: object[] = [{ role: "user", content: "go" }];
      const r1 = await post({ model: "m", messages, tools: [], user: "s1" });
      const j1 = (await r1.json()) as {
        choices: {
          message: { tool_calls: { id: string; function: { name: string; arguments: string } }[] };
          finish_reason: string;
        }[];
      };
      const c1 = j1.choices[0];
      assert.equal(c1?.finish_reason, "tool_calls");
      const call = c1?.message.tool_calls[0];
      assert.equal(call?.function.name, "bash");
      assert.deepEqual(JSON.parse(call?.function.arguments ?? ""), { command: "true" });
      assert.ok(typeof llm.progress("s1").handedOut[0] === "number");

      messages.push(c1?.message ?? {});
      const missing = await post({ messages, user: "s1" });
      assert.equal(missing.status, 400, "a tool call without its result is refused");
      messages.push({ role: "tool", tool_call_id: call?.id, content: "exit 0" });
      const j2 = (await (await post({ messages, user: "s1" })).json()) as {
        choices: { finish_reason: string; message: { content: string } }[];
      };
      assert.equal(j2.choices[0]?.finish_reason, "stop");
      assert.ok(llm.progress("s1").stoppedAt !== undefined);
      assert.equal((await post({ messages: [], user: "nobody" })).status, 404);
    } finally {
      await llm.close();
    }
  });
});

test("dnsQueryName - decodes a query name, rejects garbage", () => {
  const q = Buffer.concat([
    Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
    Buffer.from([3, 0x61, 0x62, 0x63, 2, 0x69, 0x6f, 0]),
    Buffer.from([0, 16, 0, 1]),
  ]);
  assert.equal(dnsQueryName(q), "abc.io");
  assert.equal(dnsQueryName(Buffer.from("hello")), undefined);
});

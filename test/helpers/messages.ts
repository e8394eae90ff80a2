/** Real-looking messages of every kind, valid against their schemas, for bus tests. */
import type { VigilAlert, VigilEvent, WindowRecord } from "../../src/contracts/index.js";

export function makeWindow(i: number, over: Partial<WindowRecord> = {}): WindowRecord {
  const start = new Date(Date.UTC(2026, 10, 25, 12, 0, 0) + i * 5000);
  return {
    schema: "vigil.window.v1",
    host: "web-1",
    agentType: "coding-agent",
    agentId: "7f3a",
    pid: 4242,
    uid: 0,
    seq: i,
    start: start.toISOString(),
    end: new Date(start.getTime() + 5000).toISOString(),
    final: false,
    syscalls: {
      n: 3,
      total: 300 + i,
      ngrams: [
        ["read", "read", "write", 200 + i],
        ["openat", "read", "close", 100],
      ],
    },
    execs: [
      {
        path: "/usr/bin/git",
        argv: ["git", "status"],
        pid: 4300 + i,
        ppid: 4242,
        uid: 1000,
        count: 1,
      },
    ],
    files: [{ path: "~/proj/main.py", class: "workspace", op: "read", count: 3 }],
    net: [
      {
        direction: "out",
        protocol: "tcp",
        family: "inet",
        address: "127.0.0.1",
        port: 8080,
        connections: 1,
        bytesOut: 512,
        bytesIn: 2048,
        sends: 2,
        recvs: 3,
      },
    ],
    privilege: [],
    processes: { started: 1, exited: 1, live: 1 },
    drops: { ngram_map_full: 0 },
    truncated: {},
    ...over,
  };
}

export function makeEvent(i: number): VigilEvent {
  return {
    schema: "vigil.event.v1",
    host: "web-1",
    agentType: "coding-agent",
    agentId: "7f3a",
    pid: 4242,
    ts: new Date(Date.UTC(2026, 10, 25, 12, 0, i)).toISOString(),
    kind: "net",
    direction: "out",
    protocol: "tcp",
    address: "127.0.0.1",
    port: 4444,
  };
}

export function makeAlert(i: number): VigilAlert {
  return {
    schema: "vigil.alert.v1",
    fingerprint: `web-1/coding-agent/7f3a/${i}`,
    alertname: "AgentBehaviorAnomaly",
    host: "web-1",
    agentType: "coding-agent",
    agentId: "7f3a",
    severity: "critical",
    score: 9.5,
    threshold: 2.1,
    modelVersion: "2026-11-25.1",
    summary: "coding-agent 7f3a on web-1 connected to 127.0.0.1:4444, never seen in its baseline",
    explanation: {
      features: [{ name: "net.new_destinations", observed: 1, baseline: 0, contribution: 0.8 }],
      novel: [{ kind: "destination", value: "127.0.0.1:4444" }],
    },
    windowStart: "2026-11-25T12:00:00.000Z",
    windowEnd: "2026-11-25T12:00:05.000Z",
    startsAt: "2026-11-25T12:00:05.000Z",
  };
}

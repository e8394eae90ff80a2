import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type Containment, classifyTest } from "../../training/atomics/containment.js";
import { type AtomicTest, loadAtomics } from "../../training/atomics/library.js";
import { type ResolvedTest, resolveTest } from "../../training/atomics/resolve.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const DATASET = join(REPO, "..", "shared", "datasets", "atomic-red-team");

interface Shape {
  platforms?: string[];
  executor?: string;
  elevation?: boolean;
  dependencyExecutor?: string;
  cleanup?: string;
  check?: string;
  get?: string;
}

/** A resolved linux sh test running `command`, with what `s` changes. */
function fake(command: string, s: Shape = {}): ResolvedTest {
  const test: AtomicTest = {
    technique: "T9001",
    techniqueName: "Fixture",
    number: 1,
    name: "fake",
    guid: "",
    description: "",
    platforms: s.platforms ?? ["linux"],
    inputArguments: {},
    ...(s.dependencyExecutor ? { dependencyExecutor: s.dependencyExecutor } : {}),
    dependencies: [],
    executor: { name: s.executor ?? "sh", command, elevationRequired: s.elevation ?? false },
    file: "/nowhere/T9001.yaml",
  };
  const prereqs =
    s.check !== undefined || s.get !== undefined
      ? [{ description: "", check: s.check ?? "", get: s.get ?? "" }]
      : [];
  if (prereqs.length > 0)
    test.dependencies.push({ description: "", prereqCommand: "", getPrereqCommand: "" });
  return {
    test,
    atomicsDir: "/opt/art/atomics",
    args: {},
    command,
    ...(s.cleanup === undefined ? {} : { cleanup: s.cleanup }),
    prereqs,
    unresolved: [],
  };
}

const verdict = (command: string, s?: Shape): Containment => classifyTest(fake(command, s));
const kindOf = (command: string, s?: Shape) => {
  const v = verdict(command, s);
  return v.run ? "run" : v.kind;
};

describe("atomics containment", () => {
  test("atomics - platform, executor and elevation_required come first", () => {
    assert.deepEqual(verdict("id", { platforms: ["windows", "macos"] }), {
      run: false,
      kind: "platform",
      reason: "runs on windows, macos, not linux",
    });
    assert.equal(kindOf("Get-Process", { executor: "powershell" }), "executor");
    assert.equal(kindOf("", { executor: "manual" }), "executor");
    assert.equal(
      kindOf("id", { executor: "bash", dependencyExecutor: "powershell", get: "x" }),
      "executor",
    );
    assert.deepEqual(verdict("id", { elevation: true }), {
      run: false,
      kind: "elevation",
      reason: "needs elevation (elevation_required)",
    });
    assert.deepEqual(verdict("id; uname -a", { executor: "bash" }), { run: true });
  });

  test("atomics - sudo, su, doas and pkexec anywhere a command runs need elevation", () => {
    assert.deepEqual(verdict("sudo cat /etc/shadow"), {
      run: false,
      kind: "elevation",
      reason: "calls sudo, which needs elevation",
    });
    assert.equal(kindOf("id && su -c id root"), "elevation");
    assert.equal(kindOf("echo $(doas id)"), "elevation");
    assert.equal(kindOf("ls | xargs -I {} pkexec cat {}"), "elevation");
    assert.equal(kindOf("bash -c 'cd /tmp; sudo -n true'"), "elevation");
    assert.deepEqual(verdict("id", { cleanup: "sudo rm -f /tmp/x" }), {
      run: false,
      kind: "elevation",
      reason: "calls sudo, which needs elevation (in the cleanup)",
    });
    assert.equal(kindOf("id", { get: "(which apt && sudo apt-get install -y x)" }), "elevation");
  });

  test("atomics - sudo as a word, a path or in a string is not a call", () => {
    for (const c of [
      'echo "install it with sudo apt-get install x"',
      "command -v sudo && which sudo",
      "grep sudo /etc/group > /tmp/groups.txt",
      "ls /etc/sudoers.d",
      "cat <<'EOF' > /tmp/notes.txt\nsudo rm -rf /etc\nEOF\necho done",
      "echo 'useradd evil' # a comment: sudo crontab",
    ]) {
      assert.equal(kindOf(c), "run", c);
    }
  });

  test("atomics - host state reachable without root: cron, at, logger, systemd", () => {
    assert.deepEqual(verdict("crontab /tmp/evil_cron"), {
      run: false,
      kind: "host-state",
      reason: "uses crontab, which changes the host's cron spool outside the sandbox",
    });
    assert.equal(kindOf('echo "echo hi" | at now + 1 minute'), "host-state");
    assert.equal(kindOf('logger -t art "hello"'), "host-state");
    assert.equal(kindOf("systemctl stop cron"), "host-state");
    assert.equal(kindOf("systemd-run --on-calendar '*:0/1' /bin/true"), "host-state");
    assert.equal(kindOf("shutdown -h +1"), "host-state");
    for (const c of [
      "crontab -l > /tmp/cron.bak",
      "atq",
      "systemctl status ssh; systemctl list-units --type=service",
      "systemctl --user daemon-reload",
      "systemd-run --user --unit=x /bin/true",
      "timedatectl",
    ]) {
      assert.equal(kindOf(c), "run", c);
    }
  });

  test("atomics - root-only system changes", () => {
    assert.deepEqual(verdict("useradd -M art"), {
      run: false,
      kind: "system",
      reason: "uses useradd, which changes the host's user accounts and needs root",
    });
    assert.equal(kindOf("/usr/sbin/insmod /tmp/rootkit.ko"), "system");
    assert.equal(kindOf("sysctl -w kernel.randomize_va_space=0"), "system");
    assert.equal(kindOf("iptables -A INPUT -j ACCEPT"), "system");
    assert.equal(kindOf("service auditd stop"), "system");
    assert.equal(kindOf("mount -o bind /tmp /mnt"), "system");
    assert.equal(kindOf("setenforce 0"), "system");
    for (const c of ["sysctl -a", "iptables -L -n", "mount | grep proc", "service --status-all"]) {
      assert.equal(kindOf(c), "run", c);
    }
  });

  test("atomics - writes to system paths are not run, reads are", () => {
    assert.deepEqual(verdict('echo "/tmp/x.so" > /etc/ld.so.preload'), {
      run: false,
      kind: "system",
      reason: "writes /etc/ld.so.preload, outside the sandbox",
    });
    assert.deepEqual(verdict("rm -rf /var/log/*"), {
      run: false,
      kind: "system",
      reason: "deletes /var/log/*, outside the sandbox",
    });
    for (const c of [
      "echo x | tee -a /etc/profile",
      "cp /tmp/evil /usr/local/bin/ls",
      "install -m 755 /tmp/x /usr/bin/x",
      "sed -i 's/a/b/' /etc/ssh/sshd_config",
      "chmod u+s /bin/bash",
      "touch /root/.hidden",
      "mkdir -p /opt/evil",
      "dd if=/dev/zero of=/boot/x bs=1 count=1",
      "truncate -s0 /var/log/wtmp",
      "ln -sf /tmp/x /lib/x.so",
      "echo 1 > /proc/sys/kernel/sysrq",
      "echo x >> /tmp/../etc/passwd",
      "find /var/log -name '*.log' -exec rm {} \\;",
      "find /etc/cron.d -delete",
      "bash -c 'echo x > /etc/motd'",
    ]) {
      assert.equal(kindOf(c), "system", c);
    }
    for (const c of [
      "cat /etc/passwd > /tmp/passwd.txt",
      "cp /etc/passwd /etc/group /tmp/",
      "ls -la /etc/cron.d /var/spool/cron",
      "touch -acmr /bin/sh /tmp/ref.txt",
      "echo x > /var/tmp/x; mkdir -p /run/user/1000/x; echo y > /dev/shm/y",
      "echo x > ~/.bashrc; rm -rf $HOME/.cache /tmp/x",
      "sed 's/a/b/' /etc/passwd > /tmp/p",
      "find / -name id_rsa -exec cp --parents {} /tmp/art-staging \\;",
      "grep -ri password / 2>/dev/null",
      "files=(/etc/passwd /etc/group); cat $files > /tmp/f",
      "testcat(){ (while read line; do echo $line >> /tmp/o; done < $1) }; testcat /etc/passwd",
    ]) {
      assert.equal(kindOf(c), "run", c);
    }
  });

  test("atomics - devices: block devices and memory, not the harmless ones", () => {
    assert.deepEqual(verdict("dd if=/dev/zero of=/dev/sda bs=512 count=1"), {
      run: false,
      kind: "device",
      reason: "writes /dev/sda, a device outside the sandbox",
    });
    assert.equal(kindOf("mkfs.ext4 /tmp/disk.img"), "device");
    assert.equal(kindOf("cat /dev/mem | strings"), "device");
    assert.equal(kindOf("dd if=/dev/nvme0n1 of=/tmp/mbr bs=512 count=1"), "device");
    assert.equal(kindOf("echo x > /dev/kmsg"), "device");
    assert.equal(kindOf("strings < /dev/kmem"), "device");
    for (const c of [
      "cat /dev/null > ~/.bash_history",
      "dd if=/dev/urandom of=/tmp/x bs=1 count=1 2>&1",
      "exec 3<>/dev/tcp/10.0.0.1/80; echo hi >&3",
      "echo x > /dev/udp/10.0.0.1/53",
      "ls /dev/sd* /dev/disk 2>/dev/null; lsblk /dev/sda; stat /dev/nvme0n1",
    ]) {
      assert.equal(kindOf(c), "run", c);
    }
  });

  test("atomics - the most fundamental reason wins", () => {
    const v = verdict("crontab /tmp/c; useradd x; echo x > /dev/sda; sudo id");
    assert.equal(v.run ? "run" : v.kind, "elevation");
    assert.equal(kindOf("crontab /tmp/c; useradd x; echo x > /dev/sda"), "device");
    assert.equal(kindOf("crontab /tmp/c; useradd x"), "system");
  });
});

describe("atomics containment on the dataset", {
  skip: existsSync(DATASET) ? false : `no dataset at ${DATASET}`,
}, () => {
  const lib = existsSync(DATASET) ? loadAtomics(DATASET) : undefined;
  const classify = (t: AtomicTest) =>
    classifyTest(resolveTest(t, { atomicsDir: lib?.atomicsDir ?? "" }));
  const find = (technique: string, n: number) => {
    const t = lib?.tests.find((x) => x.technique === technique && x.number === n);
    assert.ok(t, `${technique}#${n}`);
    return classify(t);
  };

  test("atomics - dataset counts: run and each not-run kind", () => {
    const counts: Record<string, number> = {};
    for (const t of lib?.tests ?? []) {
      const v = classify(t);
      const k = v.run ? "run" : v.kind;
      counts[k] = (counts[k] ?? 0) + 1;
    }
    assert.deepEqual(counts, {
      platform: 305,
      executor: 9,
      elevation: 94,
      system: 3,
      "host-state": 1,
      run: 111,
    });
  });

  test("atomics - dataset verdicts name the reason", () => {
    assert.deepEqual(find("T1485", 2), {
      run: false,
      kind: "system",
      reason: "writes /var/log/syslog, outside the sandbox",
    });
    assert.deepEqual(find("T1053.002", 2), {
      run: false,
      kind: "host-state",
      reason: "uses at, which changes the host's at spool outside the sandbox",
    });
    assert.deepEqual(find("T1110.004", 1), {
      run: false,
      kind: "elevation",
      reason: "calls sudo, which needs elevation (in a prerequisite)",
    });
    // sudo appears only inside an echo'd hint in its prerequisite.
    assert.deepEqual(find("T1546.018", 3), { run: true });
    assert.deepEqual(find("T1053.006", 2), { run: true }, "systemd-run --user");
    assert.deepEqual(find("T1552.004", 3), { run: true }, "find -exec cp into /tmp");
  });
});

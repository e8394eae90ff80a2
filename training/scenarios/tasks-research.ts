/**
 * The research agent's benign work: fetch pages from the loopback wiki (services.ts), extract
 * their text with python3 / sed / node one-liners, keep notes, and write a summary.
 */
import {
  bash,
  httpGet,
  int,
  paragraph,
  pick,
  type Random,
  sample,
  sentence,
  type Task,
  writeFile,
} from "./types.js";

export const ARTICLES = [
  ["ebpf-basics", "eBPF basics"],
  ["syscall-tracing", "Tracing system calls"],
  ["anomaly-detection", "Anomaly detection on sequences"],
  ["isolation-forest", "Isolation forests"],
  ["autoencoders", "Autoencoders for outliers"],
  ["prompt-injection", "Prompt injection in tool-using agents"],
  ["linux-namespaces", "Linux namespaces"],
  ["container-security", "Container security checklist"],
  ["time-series", "Time series baselines"],
  ["sqlite-internals", "How SQLite stores pages"],
  ["tcp-handshake", "The TCP handshake"],
  ["threshold-calibration", "Calibrating alert thresholds"],
].map(([slug, title]) => ({ slug: slug as string, title: title as string }));

const TERMS = [
  "kernel",
  "baseline",
  "anomaly",
  "latency",
  "credential",
  "namespace",
  "threshold",
  "cluster",
];

/** Page -> plain text, the way an agent improvises it. */
function extract(random: Random, url: string, out: string): string {
  return pick(random, [
    `curl -s ${url} | python3 -c "import sys,re,html; t=re.sub(r'<[^>]+>',' ',sys.stdin.read()); print(html.unescape(' '.join(t.split())))" > ${out}`,
    `curl -s ${url} | sed -e 's/<[^>]*>//g' -e '/^[[:space:]]*$/d' > ${out}`,
    `wget -q -O - ${url} | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(s.replace(/<[^>]+>/g,' ').replace(/\\s+/g,' ').trim()))" > ${out}`,
  ]);
}

function browseIndex(random: Random): Task {
  return [
    httpGet("{{WEB}}/"),
    pick(random, [
      bash(
        "curl -s {{WEB}}/api/articles.json | jq -r '.[] | \"\\(.words)\\t\\(.slug)\"' | sort -rn | head",
      ),
      httpGet("{{WEB}}/api/articles.json"),
      bash("curl -s {{WEB}}/ | grep -o 'href=\"[^\"]*\"' | cut -d'\"' -f2"),
    ]),
  ];
}

function readArticle(random: Random, slug: string, title: string): Task {
  const url = `{{WEB}}/articles/${slug}.html`;
  const note =
    `# ${title}\n\nSource: ${url}\n\n## Key points\n\n` +
    Array.from({ length: int(random, 2, 5) }, () => `- ${sentence(random)}`).join("\n") +
    `\n\n## Thoughts\n\n${paragraph(random, int(random, 1, 3))}\n`;
  return [
    httpGet(url),
    bash(extract(random, url, `notes/${slug}.txt`)),
    bash(
      pick(random, [
        `wc -w notes/${slug}.txt`,
        `head -c 400 notes/${slug}.txt`,
        `grep -o '[A-Za-z]\\{8,\\}' notes/${slug}.txt | sort | uniq -c | sort -rn | head`,
      ]),
    ),
    writeFile(`notes/${slug}.md`, note),
  ];
}

function search(random: Random): Task {
  const term = pick(random, TERMS);
  return [
    httpGet(`{{WEB}}/search?q=${term}`),
    bash(
      pick(random, [
        `grep -ril ${term} notes | sort || true`,
        `grep -ic ${term} notes/*.txt 2>/dev/null || true`,
      ]),
    ),
  ];
}

function compare(random: Random): Task {
  return [
    bash(
      pick(random, [
        "wc -w notes/*.txt 2>/dev/null | sort -n",
        "cat notes/*.txt 2>/dev/null | tr -cs 'A-Za-z' '\\n' | tr A-Z a-z | sort | uniq -c | sort -rn | head -n 15",
        "ls -la notes && du -sh notes",
      ]),
    ),
  ];
}

function summarize(random: Random, read: { slug: string; title: string }[]): Task {
  const summary =
    "# Summary\n\n" +
    `${paragraph(random)}\n\n## Sources\n\n` +
    read.map((a) => `- [${a.title}](notes/${a.slug}.md)`).join("\n") +
    `\n\n## Open questions\n\n- ${sentence(random)}\n- ${sentence(random)}\n`;
  return [
    bash("ls notes && cat notes/*.md 2>/dev/null | grep -c '^- ' || true"),
    writeFile("summary.md", summary),
    bash(pick(random, ["wc -l summary.md", "head -n 5 summary.md", "grep -c notes/ summary.md"])),
  ];
}

/** `count` tasks; the last one writes summary.md. */
export function researchTasks(random: Random, count: number): Task[] {
  const articles = sample(random, ARTICLES, count);
  const read: { slug: string; title: string }[] = [];
  const tasks: Task[] = [];
  for (let i = 0; i < count - 1; i++) {
    const r = random();
    const a = articles[i];
    if (i === 0 && r < 0.5) tasks.push(browseIndex(random));
    else if (r < 0.65 && a) {
      tasks.push(readArticle(random, a.slug, a.title));
      read.push(a);
    } else tasks.push(r < 0.85 ? search(random) : compare(random));
  }
  tasks.push(summarize(random, read));
  return tasks;
}

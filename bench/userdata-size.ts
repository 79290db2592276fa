/**
 * `npm run bench:userdata`: user-data sizes of representative policies against the EC2 limit (16 KB, counted
 * before base64) and the Alibaba Cloud ECS limit (32 KB, counted with base64), in three encodings:
 *   plain       the text as rendered (EC2 counts it; ECS counts its base64);
 *   engine gz   the apply script's engine carried gzip+base64, its data part (the policy's files) readable (`compress: true`);
 *   all gz      every file inside carried gzip+base64 (`compress: "all"`; the user data stays text, every reader takes it);
 *   whole gzip  the whole document gzipped (cloud-init reads it; EKS, which must parse the MIME document, does not);
 *   engine URL  the engine fetched by the node from `engineUrl` (the data part readable, a 1.5 KB fetcher beside it).
 */
import { gzipSync } from "node:zlib";
import type { MirrorPolicyInput } from "../components/core/policy";
import { renderNodeConfig } from "../components/core/render/node-config";
import { type RuntimeName, RUNTIME_NAMES } from "../components/core/render/types";
import {
  renderCloudConfig,
  renderEksUserData,
  renderShellUserData,
  USER_DATA_LIMITS,
} from "../components/core/userdata";
import { table } from "./lib";

interface Case {
  policy: string;
  runtimes: RuntimeName[];
  input: MirrorPolicyInput;
  watchdog?: true;
}

/** A realistic folder URL for the engine (an S3 bucket in a region). */
const ENGINE_URL = "https://platform-artifacts.s3.eu-west-1.amazonaws.com/registry-mirrors/";

const SIX = ["docker.io", "ghcr.io", "quay.io", "registry.k8s.io", "gcr.io", "public.ecr.aws"];
const sixByThree: MirrorPolicyInput = {
  registries: Object.fromEntries(
    SIX.map((r, i) => [r, { mirrors: [1, 2, 3].map((j) => `https://mirror-${j}.r${i}.registry.example.com`) }]),
  ),
};

const cases: Case[] = [
  {
    policy: "1 Docker Hub mirror",
    runtimes: ["docker", "containerd"],
    input: { registries: { "docker.io": { mirrors: ["https://abcd1234.mirror.aliyuncs.com"] } } },
  },
  { policy: "6 registries x 3 mirrors", runtimes: ["docker", "containerd"], input: sixByThree },
  { policy: "6 registries x 3 mirrors", runtimes: [...RUNTIME_NAMES], input: sixByThree },
  // What one node can run together: k3s or RKE2 (not both), Bottlerocket alone.
  {
    policy: "6 registries x 3 mirrors",
    runtimes: RUNTIME_NAMES.filter((r) => r !== "rke2" && r !== "bottlerocket"),
    input: sixByThree,
  },
  { policy: "6 x 3 + watchdog", runtimes: ["docker", "containerd"], input: sixByThree, watchdog: true },
  { policy: "6 x 3 + watchdog", runtimes: ["containerd"], input: sixByThree, watchdog: true },
];

const EC2 = USER_DATA_LIMITS.ec2.bytes;
const ECS = USER_DATA_LIMITS.ecs.bytes;
const b64 = (n: number) => 4 * Math.ceil(n / 3);
/** `size` and how it stands against `limit`: "12345 ok 75%" or "24643 OVER". */
const judge = (size: number, limit: number) =>
  `${size} ${size <= limit ? `ok ${Math.round((100 * size) / limit)}%` : "OVER"}`;

const rows: string[][] = [];
for (const c of cases) {
  const rendered = renderNodeConfig({
    policy: c.input,
    runtimes: c.runtimes,
    ...(c.watchdog ? { watchdog: c.watchdog } : {}),
  });
  const applyScript = rendered.applyScript;
  type Render = (compress: boolean | "all", engineUrl?: string) => string;
  const forms: Array<[string, Render, boolean]> = [
    ["cloud-config", (compress, engineUrl) => renderCloudConfig({ applyScript, compress, engineUrl }), true],
    ["shell script", (compress, engineUrl) => renderShellUserData({ applyScript, compress, engineUrl }), true],
    [
      "EKS AL2023 MIME",
      (compress, engineUrl) => renderEksUserData({ family: "al2023", applyScript, compress, engineUrl }),
      false,
    ],
  ];
  for (const [form, render, gzipReadable] of forms) {
    const byUrl = Buffer.byteLength(render(false, ENGINE_URL), "utf8");
    const plain = Buffer.byteLength(render(false), "utf8");
    const engineGz = Buffer.byteLength(render(true), "utf8");
    const filesGz = Buffer.byteLength(render("all"), "utf8");
    const wholeGz = gzipSync(Buffer.from(render(false), "utf8"), { level: 9 }).length;
    rows.push([
      c.policy,
      c.runtimes.length === RUNTIME_NAMES.length
        ? "all 8"
        : c.runtimes.length > 3
          ? `all but ${RUNTIME_NAMES.filter((r) => !c.runtimes.includes(r)).join(", ")}`
          : c.runtimes.join("+"),
      form,
      judge(byUrl, EC2),
      judge(plain, EC2),
      judge(engineGz, EC2),
      judge(filesGz, EC2),
      gzipReadable ? judge(wholeGz, EC2) : "n/a",
      judge(b64(byUrl), ECS),
      judge(b64(plain), ECS),
      judge(b64(engineGz), ECS),
      judge(b64(filesGz), ECS),
      gzipReadable ? judge(b64(wholeGz), ECS) : "n/a",
    ]);
  }
  if (rendered.bottlerocketSettings !== undefined) {
    const n = Buffer.byteLength(rendered.bottlerocketSettings, "utf8");
    rows.push([
      c.policy,
      "all 8",
      "Bottlerocket TOML",
      "-",
      judge(n, EC2),
      "-",
      "-",
      "-",
      "-",
      judge(b64(n), ECS),
      "-",
      "-",
      "-",
    ]);
  }
}

console.log(
  `User-data bytes against EC2 (${EC2} B, ${USER_DATA_LIMITS.ec2.counted}) and ECS (${ECS} B, ${USER_DATA_LIMITS.ecs.counted}).\n`,
);
console.log(
  table(
    [
      "Policy",
      "Runtimes",
      "Form",
      "EC2 engine URL",
      "EC2 plain",
      "EC2 engine gz",
      "EC2 all gz",
      "EC2 whole gzip",
      "ECS engine URL b64",
      "ECS plain b64",
      "ECS engine gz b64",
      "ECS all gz b64",
      "ECS whole gzip b64",
    ],
    rows,
    ["l", "l", "l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "r"],
  ),
);
console.log("\nn/a: EKS managed node groups must parse the MIME document, so it cannot be gzipped as a whole.");

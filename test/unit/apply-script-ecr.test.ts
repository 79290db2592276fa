/**
 * The apply script's ECR token refresher (mirrors with auth "ecr"), run against a temp NODE_ROOT with the harness's
 * fake systemctl and a fake AWS CLI (AWS_CLI) that prints a token the way `aws ecr get-authorization-token` does.
 */
import { afterAll, describe, expect, it } from "vitest";
import * as fc from "fast-check";
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { PolicyError } from "../../components/core/errors";
import { type MirrorPolicyInput, normalisePolicy } from "../../components/core/policy";
import { type NodeApplyPlan, renderApplyScript } from "../../components/core/node-script";
import { nodeSource } from "../../components/core/node-script";

const ECR_REFRESHER = nodeSource("ecr-token-refresh.sh");
import { type ContainerdHostsFile, renderContainerdHosts } from "../../components/core/render/containerd";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { FakeNode, cleanupNodes, toolPath } from "../support/apply-harness";

afterAll(cleanupNodes);

const CONFIG = "/etc/containerd/config.toml";
const DIR = "/etc/containerd/certs.d";
const HUB = `${DIR}/docker.io/hosts.toml`;
const QUAY = `${DIR}/quay.io/hosts.toml`;
const ECR_DIR = "/etc/containerd/registry-mirrors";
const UNIT = "registry-mirrors-ecr-token";
const ECR_HUB = "https://123456789012.dkr.ecr.us-west-2.amazonaws.com/v2/docker-hub";
const ECR_QUAY = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/quay";
const TOKEN = Buffer.from("AWS:eyJwYXlsb2FkIjoic2VjcmV0LXBhc3N3b3JkIn0").toString("base64");
const TOKEN_2 = Buffer.from("AWS:second-password-after-renewal").toString("base64");
const CONFIG_OK = `version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${DIR}"\n`;

const POLICY: MirrorPolicyInput = {
  allowMirrorPaths: true,
  registries: {
    "docker.io": { mirrors: [{ url: ECR_HUB, overridePath: true, auth: "ecr" }, "https://mirror.gcr.io"] },
    "quay.io": {
      mirrors: ["https://quay-mirror.example.com", { url: ECR_QUAY, overridePath: true, auth: "ecr" }],
      upstreamFallback: false,
    },
  },
};

function filesOf(policy: MirrorPolicyInput): ContainerdHostsFile[] {
  return renderContainerdHosts(normalisePolicy(policy).policy);
}

const planOf = (files: ContainerdHostsFile[]): NodeApplyPlan => ({
  restartPolicy: "never",
  containerd: { hostsDir: DIR, files },
});
const PLAN = planOf(filesOf(POLICY));

/** A node with config_path set, the fake AWS CLI, and systemd (unless `systemd` is false). */
function ecrNode(systemd = true): FakeNode & {
  aws(state: "ok" | "fail" | "garbage", token?: string): void;
  awsCalls(): string[];
  env: Record<string, string>;
} {
  const node = new FakeNode() as FakeNode & {
    aws(state: "ok" | "fail" | "garbage", token?: string): void;
    awsCalls(): string[];
    env: Record<string, string>;
  };
  node.write(CONFIG, CONFIG_OK);
  if (systemd) writeFileSync(join(node.fake, "systemd"), "");
  const cli = join(node.dir, "aws");
  writeFileSync(
    cli,
    [
      "#!/bin/sh",
      `echo "$*" >>"${node.fake}/aws.calls"`,
      `case $(cat "${node.fake}/aws.state") in`,
      "  fail) echo 'An error occurred (AccessDeniedException) when calling the GetAuthorizationToken operation: not authorized' >&2 && exit 254 ;;",
      "  garbage) echo None ;;",
      `  *) cat "${node.fake}/aws.token" ;;`,
      "esac",
      "",
    ].join("\n"),
  );
  chmodSync(cli, 0o755);
  node.aws = (state, token = TOKEN) => {
    writeFileSync(join(node.fake, "aws.state"), state);
    writeFileSync(join(node.fake, "aws.token"), `${token}\n`);
  };
  node.awsCalls = () =>
    existsSync(join(node.fake, "aws.calls"))
      ? readFileSync(join(node.fake, "aws.calls"), "utf8").trim().split("\n")
      : [];
  node.env = { AWS_CLI: cli };
  node.aws("ok");
  return node;
}

function mode(node: FakeNode, path: string): number {
  return statSync(node.path(path)).mode & 0o777;
}

/** Runs the installed refresher (or the rendered one at `script`) directly, as the timer does. */
function refresh(
  node: FakeNode & { env: Record<string, string> },
  args: string[] = [],
  script = node.path(`${ECR_DIR}/ecr-token-refresh`),
) {
  const res = spawnSync(join(toolPath(), "sh"), [script, ...args], {
    encoding: "utf8",
    env: { PATH: toolPath(), NODE_ROOT: node.root, ...node.env },
  });
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

function ageToken(node: FakeNode, region: string, hours: number): void {
  const when = new Date(Date.now() - hours * 3600_000);
  utimesSync(node.path(`${ECR_DIR}/token.${region}`), when, when);
}

function shellcheck(script: string): string {
  const res = spawnSync("shellcheck", ["-s", "sh", "-"], { input: script, encoding: "utf8" });
  return res.status === 0 ? "" : res.stdout + res.stderr;
}

const INSTALL_CALLS = [
  "is-system-running",
  `link ${ECR_DIR}/${UNIT}.service`,
  `enable ${ECR_DIR}/${UNIT}.timer`,
  "daemon-reload",
  `restart ${UNIT}.timer`,
  `start ${UNIT}.service`,
];

describe("apply script with ECR mirrors", { timeout: 60_000 }, () => {
  it("passes shellcheck, and so does the refresher it installs", () => {
    expect(shellcheck(renderApplyScript(PLAN))).toBe("");
    expect(shellcheck(ECR_REFRESHER)).toBe("");
  });

  it("installs the refresher and its timer; hosts.toml = template + token (0600); never prints the token", () => {
    const node = ecrNode();
    const res = node.run(PLAN, undefined, { env: node.env });
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.calls).toEqual(INSTALL_CALLS);
    expect(res.stdout).toBe(
      [
        `containerd: wrote ${HUB}.registry-mirrors.template (hosts.toml gets the ECR token)`,
        `containerd: wrote ${QUAY}.registry-mirrors.template (hosts.toml gets the ECR token)`,
        `ecr-token: wrote ${HUB}`,
        `ecr-token: wrote ${QUAY}`,
        `containerd: enabled ${UNIT}.timer (ECR token at boot, renewed when 6 hours old)`,
        `containerd: ran ${UNIT}.service (ECR token)`,
        "",
      ].join("\n"),
    );
    expect(node.awsCalls()).toEqual([
      "ecr get-authorization-token --region us-west-2 --cli-connect-timeout 10 --output text --query authorizationData[0].authorizationToken",
      "ecr get-authorization-token --region eu-west-1 --cli-connect-timeout 10 --output text --query authorizationData[0].authorizationToken",
    ]);
    const hub = parseToml(node.read(HUB)) as Record<string, any>;
    expect(hub.host[ECR_HUB].header).toEqual({ Authorization: `Basic ${TOKEN}` });
    expect(Object.keys(hub.host)).toEqual([ECR_HUB, "https://mirror.gcr.io"]);
    expect(hub.host["https://mirror.gcr.io"].header).toBeUndefined();
    // The ECR mirror is quay.io's last resort (server): its header is the top-level one.
    const quay = parseToml(node.read(QUAY)) as Record<string, any>;
    expect(quay).toMatchObject({ server: ECR_QUAY, override_path: true, header: { Authorization: `Basic ${TOKEN}` } });
    expect(quay.host["https://quay-mirror.example.com"].header).toBeUndefined();
    for (const path of [HUB, QUAY, `${ECR_DIR}/token.us-west-2`, `${ECR_DIR}/token.eu-west-1`])
      expect(mode(node, path)).toBe(0o600);
    expect(mode(node, `${ECR_DIR}/ecr-token-refresh`)).toBe(0o755);
    expect(node.read(`${HUB}.registry-mirrors.template`)).toBe(PLAN.containerd!.files[0].content);
    expect(node.read(`${ECR_DIR}/ecr-token.list`)).toBe(
      `us-west-2 ${HUB} host."${ECR_HUB}".header\neu-west-1 ${QUAY} header\n`,
    );
    expect(node.read(`${ECR_DIR}/${UNIT}.timer`)).toMatch(/OnBootSec=1min\nOnUnitActiveSec=1h\n/);
    expect(node.read(`${ECR_DIR}/${UNIT}.service`)).toContain(`ExecStart=/bin/sh ${ECR_DIR}/ecr-token-refresh\n`);
    expect(res.stdout + res.stderr).not.toContain(TOKEN);
  });

  it("a second run changes nothing: no write, no systemctl or AWS call, the header stays", () => {
    const node = ecrNode();
    expect(node.run(PLAN, undefined, { env: node.env }).code).toBe(0);
    const before = { hub: node.read(HUB), mtime: statSync(node.path(HUB)).mtimeMs, aws: node.awsCalls().length };
    const res = node.run(PLAN, undefined, { env: node.env });
    expect(res).toMatchObject({ code: 0, stdout: "containerd: unchanged\n", stderr: "", calls: [] });
    expect(node.read(HUB)).toBe(before.hub);
    expect(statSync(node.path(HUB)).mtimeMs).toBe(before.mtime);
    expect(node.awsCalls()).toHaveLength(before.aws);
  });

  it("a changed policy rewrites the template and re-renders hosts.toml with the fresh token, without asking AWS again", () => {
    const node = ecrNode();
    expect(node.run(PLAN, undefined, { env: node.env }).code).toBe(0);
    const aws = node.awsCalls().length;
    const changed = structuredClone(POLICY);
    changed.registries["docker.io"].mirrors.push("https://second.example.com");
    const res = node.run(planOf(filesOf(changed)), undefined, { env: node.env });
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      `containerd: wrote ${HUB}.registry-mirrors.template (hosts.toml gets the ECR token)\necr-token: wrote ${HUB}\ncontainerd: ran ${UNIT}.service (ECR token)\n`,
    );
    expect(res.calls).toEqual(["is-system-running", `start ${UNIT}.service`]);
    const hub = parseToml(node.read(HUB)) as Record<string, any>;
    expect(Object.keys(hub.host)).toEqual([ECR_HUB, "https://mirror.gcr.io", "https://second.example.com"]);
    expect(hub.host[ECR_HUB].header.Authorization).toBe(`Basic ${TOKEN}`);
    expect(node.awsCalls()).toHaveLength(aws);
  });

  it("writes a deleted hosts.toml again from its template and the kept token", () => {
    const node = ecrNode();
    expect(node.run(PLAN, undefined, { env: node.env }).code).toBe(0);
    const hub = node.read(HUB);
    rmSync(node.path(HUB));
    const res = node.run(PLAN, undefined, { env: node.env });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`ecr-token: wrote ${HUB}\n`);
    expect(node.read(HUB)).toBe(hub);
  });

  it("keeps the apply going when AWS refuses the token: hosts.toml is the template (valid TOML), a warning says why", () => {
    const node = ecrNode();
    node.aws("fail");
    const res = node.run(PLAN, undefined, { env: node.env });
    expect(res.code).toBe(0);
    expect(res.stderr).toContain(
      `registry-mirrors: containerd: ${UNIT}.service failed (ecr-token: could not get an ECR token for us-west-2 (An error occurred (AccessDeniedException)`,
    );
    expect(res.stderr).toContain("containerd skips the ECR mirrors of us-west-2 until a renewal works");
    expect(res.stderr).toContain(`journalctl -u ${UNIT}.service`);
    expect(node.read(HUB)).toBe(PLAN.containerd!.files[0].content);
    expect(node.exists(`${ECR_DIR}/token.us-west-2`)).toBe(false);
    // The timer's next run, once AWS answers, adds the token.
    node.aws("ok");
    expect(refresh(node).code).toBe(0);
    expect((parseToml(node.read(HUB)) as Record<string, any>).host[ECR_HUB].header.Authorization).toBe(
      `Basic ${TOKEN}`,
    );
  });

  it("without systemd it runs the refresher itself and says to schedule it", () => {
    const node = ecrNode(false);
    const res = node.run(PLAN, undefined, { env: node.env });
    expect(res.code).toBe(0);
    expect(res.calls).toEqual(["is-system-running"]);
    expect(res.stdout).toContain("ecr-token: renewed the token of us-west-2\n");
    expect(res.stdout).toContain(
      `containerd: no systemd here: run ${ECR_DIR}/ecr-token-refresh hourly (cron) to renew the ECR token\n`,
    );
    expect((parseToml(node.read(HUB)) as Record<string, any>).host[ECR_HUB].header.Authorization).toBe(
      `Basic ${TOKEN}`,
    );
    expect(res.stdout + res.stderr).not.toContain(TOKEN);
  });

  it("restore stops and removes the refresher, its tokens, the templates and the hosts.toml files", () => {
    const node = ecrNode();
    node.write(QUAY, "# the node's own quay.io file\n");
    expect(node.run(PLAN, undefined, { env: node.env }).code).toBe(0);
    const res = node.run(PLAN, "restore", { env: node.env });
    expect(res.code).toBe(0);
    expect(res.calls).toEqual([
      "is-system-running",
      `stop ${UNIT}.timer ${UNIT}.service`,
      `disable ${UNIT}.timer ${UNIT}.service`,
    ]);
    expect(res.stdout).toBe(
      `containerd: removed the ECR token refresher\ncontainerd: removed ${HUB}\ncontainerd: restored ${QUAY}\n`,
    );
    expect(node.read(QUAY)).toBe("# the node's own quay.io file\n");
    for (const path of [
      HUB,
      `${HUB}.registry-mirrors.template`,
      `${QUAY}.registry-mirrors.template`,
      `${QUAY}.registry-mirrors.bak`,
      ECR_DIR,
    ])
      expect(node.exists(path), path).toBe(false);
    // A second restore has nothing left to do.
    expect(node.run(PLAN, "restore", { env: node.env })).toMatchObject({ code: 0, stdout: "", calls: [] });
  });

  it("a policy without ECR mirrors removes the refresher and the templates and writes plain hosts.toml files", () => {
    const node = ecrNode();
    expect(node.run(PLAN, undefined, { env: node.env }).code).toBe(0);
    const plain = filesOf({ registries: { "docker.io": { mirrors: ["https://mirror.gcr.io"] } } });
    const res = node.run(planOf(plain), undefined, { env: node.env });
    expect(res.code).toBe(0);
    expect(res.calls).toEqual([
      "is-system-running",
      `stop ${UNIT}.timer ${UNIT}.service`,
      `disable ${UNIT}.timer ${UNIT}.service`,
    ]);
    expect(node.read(HUB)).toBe(plain[0].content);
    for (const path of [`${HUB}.registry-mirrors.template`, QUAY, `${QUAY}.registry-mirrors.template`, ECR_DIR])
      expect(node.exists(path), path).toBe(false);
    expect(node.run(planOf(plain), undefined, { env: node.env })).toMatchObject({
      code: 0,
      stdout: "containerd: unchanged\n",
      calls: [],
    });
  });

  it("a symlinked hosts.toml: its template goes beside the file the link leads to, the refresher renders the token there through the link, and restore removes the template and keeps the link", () => {
    const node = ecrNode();
    // Absolute (under NODE_ROOT) and relative links, into the folder the run writes; quay.io's target is not there yet.
    const hubFile = "/etc/containerd/hosts/docker.io.toml";
    const quayFile = "/etc/containerd/hosts/quay.toml";
    node.write(hubFile, "# the node's own docker.io file\n");
    mkdirSync(node.path(`${DIR}/docker.io`), { recursive: true });
    mkdirSync(node.path(`${DIR}/quay.io`), { recursive: true });
    symlinkSync(hubFile, node.path(HUB));
    symlinkSync("../../hosts/quay.toml", node.path(QUAY));
    const links = () => [HUB, QUAY].map((p) => [lstatSync(node.path(p)).isSymbolicLink(), readlinkSync(node.path(p))]);
    const before = links();
    const header = (path: string) => parseToml(node.read(path)) as Record<string, any>;

    const res = node.run(PLAN, undefined, { env: node.env });
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(
      `containerd: wrote ${hubFile}.registry-mirrors.template (hosts.toml gets the ECR token)`,
    );
    expect(res.stdout).toContain(`ecr-token: wrote ${HUB}\n`);
    expect(links()).toEqual(before);
    expect(node.read(`${hubFile}.registry-mirrors.template`)).toBe(PLAN.containerd!.files[0].content);
    expect(node.exists(`${HUB}.registry-mirrors.template`)).toBe(false);
    expect(header(hubFile).host[ECR_HUB].header).toEqual({ Authorization: `Basic ${TOKEN}` });
    expect(header(quayFile).header).toEqual({ Authorization: `Basic ${TOKEN}` });
    expect(mode(node, hubFile)).toBe(0o600);

    // The timer's run with a renewed token writes through the links too.
    ageToken(node, "us-west-2", 7);
    node.aws("ok", TOKEN_2);
    expect(refresh(node)).toMatchObject({ code: 0, stderr: "" });
    expect(links()).toEqual(before);
    expect(header(hubFile).host[ECR_HUB].header).toEqual({ Authorization: `Basic ${TOKEN_2}` });
    expect(node.run(PLAN, undefined, { env: node.env })).toMatchObject({ code: 0, stdout: "containerd: unchanged\n" });

    const back = node.run(PLAN, "restore", { env: node.env });
    expect(back.stderr).toBe("");
    expect(back.code).toBe(0);
    expect(links()).toEqual(before);
    expect(node.read(hubFile)).toBe("# the node's own docker.io file\n");
    for (const path of [
      quayFile,
      `${hubFile}.registry-mirrors.template`,
      `${quayFile}.registry-mirrors.template`,
      `${hubFile}.registry-mirrors.bak`,
      ECR_DIR,
    ])
      expect(node.exists(path), path).toBe(false);
  });

  it("check reads a symlinked hosts.toml's template where apply keeps it, beside the link's target", async () => {
    const node = ecrNode(false);
    const hubFile = "/etc/containerd/hosts/docker.io.toml";
    node.write(hubFile, "# the node's own docker.io file\n");
    mkdirSync(node.path(`${DIR}/docker.io`), { recursive: true });
    symlinkSync(hubFile, node.path(HUB));
    const script = renderNodeConfig({
      policy: { allowMirrorPaths: true, registries: { "docker.io": POLICY.registries["docker.io"] } },
      runtimes: ["containerd"],
      watchdog: { failuresToDown: 1, metricsFile: false },
    }).applyScript;
    expect(node.run(script, undefined, { env: node.env }).code).toBe(0);
    const res = await node.start(script, "check", { env: node.env }).done;
    expect(res.stdout).toContain(`ok: ${hubFile}.registry-mirrors.template is the rendered file\n`);
    expect(res.stdout).not.toContain("missing");
  });

  it.each([
    [
      { url: "https://not-in-the-file.example", region: "us-west-2" },
      "ecrAuth[0].url",
      'no [host."URL"] table or server',
      "list only mirrors of this hosts.toml file",
    ],
    [{ url: ECR_HUB, region: "Oregon" }, "ecrAuth[0].region", "not an AWS region", 'e.g. "us-west-2"'],
    [
      { url: "https://a b", region: "us-west-2" },
      "ecrAuth[0].url",
      "not a plain URL",
      "as the hosts.toml file writes it",
    ],
  ])("refuses ecrAuth %j naming the field and the fix", (endpoint, field, problem, fix) => {
    const [file] = filesOf(POLICY);
    let err: unknown;
    try {
      renderApplyScript(planOf([{ ...file, ecrAuth: [endpoint] }]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolicyError);
    expect((err as PolicyError).field).toBe(`containerd.files[0].${field}`);
    expect((err as PolicyError).message).toContain(problem);
    expect((err as PolicyError).message).toContain(`Fix: `);
    expect((err as PolicyError).message).toContain(fix);
  });

  it("refuses an ECR mirror that already has a header table, and node paths reserved for the refresher", () => {
    const file = {
      path: HUB,
      mode: 0o600,
      content: `[host."${ECR_HUB}"]\ncapabilities = ["pull"]\n\n[host."${ECR_HUB}".header]\nX-A = "1"\n`,
      ecrAuth: [{ url: ECR_HUB, region: "us-west-2" }],
    };
    expect(() => renderApplyScript(planOf([file]))).toThrow(
      /already has headers; the refresher writes its Authorization header.*Fix: remove the mirror's headers/,
    );
    expect(() =>
      renderApplyScript({ restartPolicy: "never", files: [{ path: `${ECR_DIR}/x`, content: "x\n", mode: 0o644 }] }),
    ).toThrow(/reserved for the script's backups and its ECR token refresher/);
    expect(() =>
      renderApplyScript(planOf([{ path: `${HUB}.registry-mirrors.template`, content: "x\n", mode: 0o644 }])),
    ).toThrow(/reserved/);
  });
});

describe("the ECR token refresher", { timeout: 60_000 }, () => {
  /** A node where the apply script installed everything; the calls and AWS log start empty. */
  function installed(): ReturnType<typeof ecrNode> {
    const node = ecrNode();
    expect(node.run(PLAN, undefined, { env: node.env }).code).toBe(0);
    rmSync(join(node.fake, "aws.calls"));
    return node;
  }

  it("asks AWS only for tokens 6 hours old, writes the new header atomically (0600) and never prints the token", () => {
    const node = installed();
    expect(refresh(node)).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(node.awsCalls()).toEqual([]);
    ageToken(node, "us-west-2", 6.1);
    node.aws("ok", TOKEN_2);
    const res = refresh(node);
    expect(res).toEqual({
      code: 0,
      stdout: `ecr-token: renewed the token of us-west-2\necr-token: wrote ${HUB}\n`,
      stderr: "",
    });
    expect(node.awsCalls()).toHaveLength(1);
    expect((parseToml(node.read(HUB)) as Record<string, any>).host[ECR_HUB].header.Authorization).toBe(
      `Basic ${TOKEN_2}`,
    );
    expect((parseToml(node.read(QUAY)) as Record<string, any>).header.Authorization).toBe(`Basic ${TOKEN}`);
    expect(mode(node, HUB)).toBe(0o600);
    expect(mode(node, `${ECR_DIR}/token.us-west-2`)).toBe(0o600);
    // Atomic: written to a temp file in the same folder, then renamed; nothing is left behind.
    const listing = spawnSync("ls", ["-A", node.path(`${DIR}/docker.io`)], { encoding: "utf8" })
      .stdout.trim()
      .split("\n");
    expect(listing.sort()).toEqual([
      "hosts.toml",
      "hosts.toml.registry-mirrors.created",
      "hosts.toml.registry-mirrors.template",
    ]);
    expect(res.stdout + res.stderr).not.toContain(TOKEN_2);
  });

  it("keeps the previous token and header when the CLI fails, exits 1 and says why", () => {
    const node = installed();
    const before = node.read(HUB);
    ageToken(node, "us-west-2", 7);
    node.aws("fail");
    const res = refresh(node);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toBe(
      "ecr-token: could not get an ECR token for us-west-2 (An error occurred (AccessDeniedException) when calling the GetAuthorizationToken operation: not authorized ); containerd keeps the previous token until it expires. Fix: let the instance role call ecr:GetAuthorizationToken (e.g. AmazonEC2ContainerRegistryReadOnly) and reach the ECR API of us-west-2 (the com.amazonaws.us-west-2.ecr.api VPC endpoint in private subnets)\n",
    );
    expect(node.read(HUB)).toBe(before);
    expect(node.read(`${ECR_DIR}/token.us-west-2`)).toBe(`${TOKEN}\n`);
  });

  it("refuses CLI output that is not a token (e.g. None), keeping the old one", () => {
    const node = installed();
    ageToken(node, "us-west-2", 7);
    node.aws("garbage");
    const res = refresh(node);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(
      `could not get an ECR token for us-west-2 (no token in the output of ${node.env.AWS_CLI})`,
    );
    expect(node.read(`${ECR_DIR}/token.us-west-2`)).toBe(`${TOKEN}\n`);
  });

  it("waits while another run holds its lock, so the timer and the apply script never interleave", async () => {
    const node = installed();
    rmSync(node.path(HUB));
    const held = join(node.dir, "held");
    const released = join(node.dir, "released");
    const holder = spawn("flock", [
      node.path(`${ECR_DIR}/.ecr-token.lock`),
      "sh",
      "-c",
      `touch ${held}; sleep 1; touch ${released}`,
    ]);
    const gone = new Promise((resolve) => holder.on("exit", resolve));
    while (!existsSync(held)) await new Promise((r) => setTimeout(r, 20));
    const res = refresh(node, ["--render-only"]);
    expect(res).toEqual({ code: 0, stdout: `ecr-token: wrote ${HUB}\n`, stderr: "" });
    // It wrote only once the holder had finished.
    expect(existsSync(released)).toBe(true);
    expect(statSync(node.path(HUB)).mtimeMs).toBeGreaterThanOrEqual(statSync(released).mtimeMs);
    await gone;
  });

  it("--render-only never calls AWS, and a hosts.toml whose template is gone is left alone", () => {
    const node = installed();
    ageToken(node, "us-west-2", 9);
    rmSync(node.path(`${QUAY}.registry-mirrors.template`));
    rmSync(node.path(QUAY));
    expect(refresh(node, ["--render-only"])).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(node.awsCalls()).toEqual([]);
    expect(node.exists(QUAY)).toBe(false);
  });

  it("always writes valid TOML: the template's tables unchanged, plus one Authorization header per ECR mirror", () => {
    const node = installed();
    const script = node.path(`${ECR_DIR}/ecr-token-refresh`);
    const mirror = fc.oneof(
      fc.constantFrom("https://a.example.com", "http://10.0.0.5:5000", "https://b.example.com"),
      fc
        .constantFrom(ECR_HUB, "https://123456789012.dkr.ecr.us-west-2.amazonaws.com/v2/quay")
        .map((url) => ({ url, overridePath: true, auth: "ecr" as const })),
    );
    const registry = fc.record({
      mirrors: fc.uniqueArray(mirror, {
        minLength: 1,
        maxLength: 4,
        selector: (m) => (typeof m === "string" ? m : m.url),
      }),
      upstreamFallback: fc.boolean(),
    });
    fc.assert(
      fc.property(registry, registry, (hub, any) => {
        const files = filesOf({ allowMirrorPaths: true, registries: { "docker.io": hub, "*": any } }).filter(
          (f) => f.ecrAuth,
        );
        fc.pre(files.length > 0);
        const lines = files.flatMap((f) =>
          (f.ecrAuth ?? []).map((e) => {
            const server = (parseToml(f.content) as Record<string, unknown>).server === e.url;
            return `us-west-2 ${f.path} ${server ? "header" : `host.${JSON.stringify(e.url)}.header`}`;
          }),
        );
        for (const f of files) node.write(`${f.path}.registry-mirrors.template`, f.content);
        node.write(`${ECR_DIR}/ecr-token.list`, `${lines.join("\n")}\n`);
        expect(refresh(node, ["--render-only"], script).code).toBe(0);
        for (const f of files) {
          const template = parseToml(f.content) as Record<string, any>;
          const live = parseToml(node.read(f.path)) as Record<string, any>;
          for (const e of f.ecrAuth ?? []) {
            const table = template.server === e.url ? template : template.host[e.url];
            table.header = { Authorization: `Basic ${TOKEN}` };
          }
          expect(live).toEqual(template);
          expect(Object.keys(live.host ?? {})).toEqual(Object.keys(template.host ?? {}));
        }
      }),
      { numRuns: 25 },
    );
  });
});

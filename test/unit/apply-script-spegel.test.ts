import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "smol-toml";
import { type NodeApplyPlan, renderApplyScript } from "../../components/core/node-script";
import { normalisePolicy } from "../../components/core/policy";
import { renderContainerdHosts } from "../../components/core/render/containerd";
import { FakeNode, cleanupNodes } from "../support/apply-harness";
import { expectPolicyError } from "./policy-error";
import { spegelCleanup, spegelConfigure } from "../support/spegel-node";

// Many nodes (one per property run): give the clean-up room on a loaded machine.
afterAll(cleanupNodes, 120_000);

const DIR = "/etc/containerd/certs.d";
const HUB = `${DIR}/docker.io/hosts.toml`;
const GHCR = `${DIR}/ghcr.io/hosts.toml`;
const SPEGEL_REGISTRIES = ["https://docker.io", "https://ghcr.io"];
const SPEGEL_TARGETS = ["http://10.0.0.7:30020", "http://10.0.0.7:30021"];
// The node's own docker.io file from before either tool (a mirror someone set by hand).
const ORIGINAL = "server = 'https://registry-1.docker.io'\n\n[host.'https://hand.example']\ncapabilities = ['pull']\n";

const { policy } = normalisePolicy({
  registries: {
    "docker.io": {
      mirrors: [
        "https://m1.example",
        { url: "https://m2.example", dialTimeout: "3s", headers: { "X-Team": "platform" } },
      ],
    },
    "ghcr.io": { mirrors: [{ url: "http://10.1.2.3:5000", capabilities: ["pull"] }] },
  },
});
const files = renderContainerdHosts(policy, { certsDir: DIR });
const plan: NodeApplyPlan = { restartPolicy: "never", containerd: { hostsDir: DIR, files, spegel: true } };
const ours = (path: string) => files.find((f) => f.path === path)?.content as string;

/** What containerd reads from a hosts.toml: server, then the hosts in file order with their settings. */
function meaning(text: string) {
  const doc = parse(text) as { server?: string; host?: Record<string, unknown> };
  return { server: doc.server, hosts: Object.entries(doc.host ?? {}) };
}
const spegelHosts = SPEGEL_TARGETS.map((t) => [t, { capabilities: ["pull", "resolve"], dial_timeout: "200ms" }]);

type Op = "apply" | "restore" | "spegel-start" | "spegel-cleanup";

function freshNode(): FakeNode {
  const node = new FakeNode();
  node.write(
    "/etc/containerd/config.toml",
    `version = 2\n\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${DIR}"\n`,
  );
  node.write(HUB, ORIGINAL);
  return node;
}

function run(node: FakeNode, op: Op): void {
  if (op === "spegel-start") spegelConfigure(node.path(DIR), SPEGEL_REGISTRIES, SPEGEL_TARGETS);
  else if (op === "spegel-cleanup") spegelCleanup(node.path(DIR));
  else {
    const res = node.run(plan, op);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
  }
}

/** The live files must depend only on which of the two is in place, never on the order they came in. */
function expectLive(node: FakeNode, oursOn: boolean, spegelOn: boolean): void {
  const live = (path: string) => (node.exists(path) ? node.read(path) : undefined);
  if (!spegelOn) {
    // Byte for byte: our file, or the node's own.
    expect(live(HUB)).toBe(oursOn ? ours(HUB) : ORIGINAL);
    expect(live(GHCR)).toBe(oursOn ? ours(GHCR) : undefined);
    return;
  }
  for (const [path, upstream] of [
    [HUB, "https://registry-1.docker.io"],
    [GHCR, "https://ghcr.io"],
  ] as const) {
    const after = oursOn ? meaning(ours(path)).hosts : path === HUB ? meaning(ORIGINAL).hosts : [];
    expect(meaning(live(path) as string)).toEqual({ server: upstream, hosts: [...spegelHosts, ...after] });
  }
}

describe("apply script beside Spegel (one hosts folder, two writers)", { timeout: 600_000 }, () => {
  it("ends in the same hosts.toml files whatever the order of applies, re-applies, restores and Spegel restarts", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom<Op>("apply", "restore", "spegel-start", "spegel-cleanup"), { maxLength: 7 }),
        (ops) => {
          const node = freshNode();
          let oursOn = false;
          let spegelOn = false;
          for (const op of ops) {
            run(node, op);
            if (op === "apply" || op === "restore") oursOn = op === "apply";
            else spegelOn = op === "spegel-start";
            expectLive(node, oursOn, spegelOn);
          }
          // A re-apply of ours changes nothing (no churn against Spegel's form of our hosts).
          if (oursOn) {
            const before = [node.exists(HUB) && node.read(HUB), node.exists(GHCR) && node.read(GHCR)];
            const res = node.run(plan, "apply");
            expect(res.stdout).toBe("containerd: unchanged\n");
            expect([node.exists(HUB) && node.read(HUB), node.exists(GHCR) && node.read(GHCR)]).toEqual(before);
          }
          rmSync(node.dir, { recursive: true, force: true });
        },
      ),
      { numRuns: 25, seed: 12 },
    );
  });

  it("Spegel first, then ours: our files go to Spegel's _backup and the live file gets Spegel's hosts, then ours", () => {
    const node = freshNode();
    spegelConfigure(node.path(DIR), SPEGEL_REGISTRIES, SPEGEL_TARGETS);
    const spegelOnly = node.read(GHCR);
    const res = node.run(plan, "apply");
    expect(res.stderr).toBe("");
    expect(res.stdout).toBe(
      [
        `containerd: wrote ${DIR}/_backup/docker.io/hosts.toml`,
        `containerd: wrote ${DIR}/_backup/ghcr.io/hosts.toml`,
        `containerd: ${HUB} lists Spegel's hosts, then these`,
        `containerd: ${GHCR} lists Spegel's hosts, then these`,
        "",
      ].join("\n"),
    );
    // Spegel's lines are kept as Spegel wrote them; ours follow after one blank line, as prependExisting does.
    expect(node.read(GHCR)).toBe(`${spegelOnly}\n\n${ours(GHCR).slice(ours(GHCR).indexOf("[host."))}`);
    expect(node.read(`${DIR}/_backup/ghcr.io/hosts.toml`)).toBe(ours(GHCR));
    expect(node.read(`${DIR}/_backup/.registry-mirrors.files`)).toBe(`${HUB}\n${GHCR}\n`);
    // Spegel restarting reads what we left in _backup and writes the same hosts in the same order.
    const ourText = node.read(HUB);
    spegelConfigure(node.path(DIR), SPEGEL_REGISTRIES, SPEGEL_TARGETS);
    expect(node.read(HUB)).not.toBe(ourText); // go-toml's form of our hosts
    expect(meaning(node.read(HUB))).toEqual(meaning(ourText));
  });

  it("refuses ECR mirrors in a plan with containerd spegel (Spegel's copy of the token header would expire)", () => {
    const ecrPolicy = normalisePolicy({
      registries: {
        "docker.io": {
          mirrors: [
            {
              url: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/docker-hub",
              overridePath: true,
              auth: "ecr",
            },
          ],
        },
      },
      allowMirrorPaths: true,
    }).policy;
    const ecrFiles = renderContainerdHosts(ecrPolicy, { certsDir: DIR });
    expectPolicyError(
      () => renderApplyScript({ restartPolicy: "never", containerd: { hostsDir: DIR, files: ecrFiles, spegel: true } }),
      "containerd.files[0].ecrAuth",
      HUB,
      "leave ECR mirrors out",
    );
  });

  it("warns, and writes only to _backup, for a registry Spegel does not mirror", () => {
    const node = freshNode();
    spegelConfigure(node.path(DIR), ["https://docker.io"], SPEGEL_TARGETS);
    const res = node.run(plan, "apply");
    expect(res.code).toBe(0);
    expect(res.stderr).toContain(`Spegel manages ${DIR} but not ${DIR}/ghcr.io`);
    expect(res.stderr).toContain("Fix: add the registry to Spegel's mirroredRegistries");
    expect(node.exists(GHCR)).toBe(false);
    expect(node.read(`${DIR}/_backup/ghcr.io/hosts.toml`)).toBe(ours(GHCR));
  });

  it("without containerd spegel in the plan, refuses to touch a folder Spegel manages (no fight)", () => {
    const node = freshNode();
    spegelConfigure(node.path(DIR), SPEGEL_REGISTRIES, SPEGEL_TARGETS);
    const before = node.read(HUB);
    const plain: NodeApplyPlan = { restartPolicy: "never", containerd: { hostsDir: DIR, files } };
    for (const mode of ["apply", "restore"]) {
      const res = node.run(plain, mode);
      expect(res.code).toBe(1);
      expect(res.stderr).toBe(
        `registry-mirrors: containerd: Spegel manages ${DIR}. Fix: render with containerd spegel: true\n`,
      );
      expect(node.read(HUB)).toBe(before);
      expect(node.exists(`${DIR}/_backup/ghcr.io`)).toBe(false);
    }
  });

  it("passes shellcheck as assembled, and only a plan with containerd spegel carries the Spegel part", () => {
    const script = renderApplyScript(plan);
    const res = spawnSync("shellcheck", ["-s", "sh", "-"], { input: script, encoding: "utf8" });
    expect(res.stdout).toBe("");
    expect(res.status).toBe(0);
    expect(script).toContain("# registry-mirrors node engine 0.1.0 (containerd spegel)");
    expect(script).toContain("ctd_live()");
    const plain = renderApplyScript({ restartPolicy: "never", containerd: { hostsDir: DIR, files } });
    expect(plain).not.toContain("ctd_live()");
  });

  it("refuses the node watchdog on a plan with containerd spegel (it would rewrite Spegel's files)", () => {
    expectPolicyError(
      () => renderApplyScript({ ...plan, watch: "{}" }),
      "watch",
      "a watchdog plan",
      "leave the watchdog out",
    );
  });

  it("a policy change while Spegel runs replaces our hosts behind Spegel's, and Spegel's restart keeps them", () => {
    const node = freshNode();
    run(node, "apply");
    run(node, "spegel-start");
    const { policy: changed } = normalisePolicy({
      registries: { "docker.io": { mirrors: ["https://m3.example"] }, "ghcr.io": { mirrors: ["https://g2.example"] } },
    });
    const plan2: NodeApplyPlan = {
      restartPolicy: "never",
      containerd: { hostsDir: DIR, files: renderContainerdHosts(changed, { certsDir: DIR }), spegel: true },
    };
    const res = node.run(plan2, "apply");
    expect(res.stderr).toBe("");
    const expected = (host: string) => ({
      server: expect.any(String),
      hosts: [...spegelHosts, [host, { capabilities: ["pull", "resolve"], dial_timeout: "5s" }]],
    });
    expect(meaning(node.read(HUB))).toEqual(expected("https://m3.example"));
    expect(meaning(node.read(GHCR))).toEqual(expected("https://g2.example"));
    spegelConfigure(node.path(DIR), SPEGEL_REGISTRIES, SPEGEL_TARGETS);
    expect(meaning(node.read(HUB))).toEqual(expected("https://m3.example"));
    expect(node.run(plan2, "apply").stdout).toBe("containerd: unchanged\n");
  });
});

/**
 * The fleet program (programs/fleet) under the real engine: preview, up, the component tree and outputs the
 * engine recorded, secrets in the checkpoint, a no-op second up, the diff of a one-mirror change, destroy.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertNoCredential, type CheckpointResource, EngineStack, EngineWorkspace, PROGRAMS } from "./harness";

const PROGRAM = join(PROGRAMS, "fleet");
const PROJECT = "engine-fleet";
// Fictional credential; every form of it is searched for in the state.
const TOKEN = "tok-7Qz2-engine-test-credential";
// Written as a plain string in the program.
const PLAIN_TOKEN = "tok-Vb81-plain-string-in-the-program";
const CREDENTIALS = [TOKEN, `ci:${TOKEN}`, PLAIN_TOKEN];
const OLD_PROXY = "https://us-west-2.registry-proxy.example.com";
const NEW_PROXY = "https://proxy-b.us-west-2.example.com";

const urn = (stack: string, typeChain: string, name: string) =>
  `urn:pulumi:${stack}::${PROJECT}::${typeChain}::${name}`;

function byUrn(resources: CheckpointResource[]): Map<string, CheckpointResource> {
  return new Map(resources.map((r) => [r.urn, r]));
}

describe("fleet program under the real engine", () => {
  const STACK = "engine-dev";
  let ws: EngineWorkspace;
  let stack: EngineStack;

  beforeAll(() => {
    ws = new EngineWorkspace();
    stack = new EngineStack(ws, PROGRAM, STACK);
    stack.setConfig("mirrorToken", TOKEN, { secret: true });
  });
  afterAll(() => ws?.dispose());

  const STACK_URN = urn(STACK, "pulumi:pulumi:Stack", `${PROJECT}-${STACK}`);
  const POOL = "engine:index:Pool";
  const SELECTOR = "registry-mirrors:index:RegionalMirrorSelector";
  const DAEMON = "registry-mirrors:index:MirrorDaemonConfig";
  const pool = (name: string) => urn(STACK, POOL, name);
  // [urn, type, parent]
  const TREE: Array<[string, string, string | undefined]> = [
    [STACK_URN, "pulumi:pulumi:Stack", undefined],
    [pool("hangzhou"), POOL, STACK_URN],
    [urn(STACK, `${POOL}$${SELECTOR}`, "hangzhou"), SELECTOR, pool("hangzhou")],
    [urn(STACK, `${POOL}$${DAEMON}`, "hangzhou"), DAEMON, pool("hangzhou")],
    [pool("us-west-2"), POOL, STACK_URN],
    [urn(STACK, `${POOL}$${SELECTOR}`, "us-west-2"), SELECTOR, pool("us-west-2")],
    [urn(STACK, `${POOL}$${DAEMON}`, "us-west-2"), DAEMON, pool("us-west-2")],
    [urn(STACK, DAEMON, "private"), DAEMON, STACK_URN],
    [urn(STACK, DAEMON, "k3s"), DAEMON, STACK_URN],
    [urn(STACK, DAEMON, "plain-header"), DAEMON, STACK_URN],
  ];

  it("preview --diff plans the stack and nine components, and no provider", () => {
    const out = stack.must(["preview", "--diff"]).stdout;
    // Each resource is printed as `+ TYPE: (create)` followed by `[urn=URN]`.
    const planned = [...out.matchAll(/\+ (\S+): \(create\)\n\s+\[urn=([^\]]+)\]/g)].map((m) => [m[2], m[1]]);
    expect(planned.sort()).toEqual(TREE.map(([u, type]) => [u, type]).sort());
    expect(out).toContain("+ 10 to create");
    expect(out).not.toContain("pulumi:providers:");
  });

  it("up records the component tree: URNs, parents, no custom resource, registered outputs", () => {
    expect(stack.must(["up", "--yes", "--skip-preview"]).stdout).toContain("+ 10 created");
    const resources = stack.exportState().deployment.resources ?? [];
    expect(resources.map((r) => [r.urn, r.type, r.parent]).sort()).toEqual([...TREE].sort());
    expect(resources.filter((r) => r.custom)).toEqual([]);

    const r = byUrn(resources);
    const checksums = stack.outputs().checksums as Record<string, string>;
    for (const [name, key] of [
      ["hangzhou", "hangzhou"],
      ["us-west-2", "usWest2"],
    ]) {
      expect(checksums[key]).toMatch(/^[0-9a-f]{64}$/);
      // The daemon config registers no outputs (they are made when read: fleets pay for what they use); the pool
      // reads its checksum and registers it.
      expect(r.get(urn(STACK, `${POOL}$${DAEMON}`, name))?.outputs ?? {}).toEqual({});
      expect(r.get(pool(name))?.outputs).toEqual({ checksum: checksums[key] });
    }
    for (const name of ["hangzhou", "us-west-2"])
      expect(r.get(urn(STACK, `${POOL}$${SELECTOR}`, name))?.outputs ?? {}).toEqual({});
    // Node files that hold a credential are recorded (as the component's input) only as a secret.
    expect(r.get(urn(STACK, DAEMON, "private"))?.inputs?.nodeFiles).toHaveProperty("ciphertext");

    const stackOutputs = r.get(STACK_URN)?.outputs ?? {};
    expect(stackOutputs.usWest2HostsToml).toContain(`[host."${OLD_PROXY}"]`);
    expect(stackOutputs.hangzhouHostsToml).toContain('[host."https://a1b2c3d4.mirror.aliyuncs.com"]');
  });

  it("keeps the token in the checkpoint only encrypted", () => {
    // The token is in the stack's outputs (decrypted here), so the search below looks at a state that holds it.
    const outputs = stack.outputs() as Record<string, Record<string, string>>;
    expect(outputs.privateFiles["/etc/containerd/certs.d/docker.io/hosts.toml"]).toContain(
      `Authorization = "Bearer ${TOKEN}"`,
    );
    expect(outputs.k3sFiles["/etc/rancher/k3s/registries.yaml"]).toContain(`password: ${TOKEN}`);
    expect(outputs.plainHeaderFiles["/etc/containerd/certs.d/docker.io/hosts.toml"]).toContain(
      `Authorization = "Bearer ${PLAIN_TOKEN}"`,
    );

    const exported = stack.exportState();
    expect(exported.deployment.secrets_providers?.type).toBe("passphrase");
    const stackOutputs = byUrn(exported.deployment.resources ?? []).get(STACK_URN)?.outputs ?? {};
    for (const key of ["privateFiles", "k3sFiles", "plainHeaderFiles", "debugFiles"])
      expect(stackOutputs[key]).toEqual({
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        ciphertext: expect.stringMatching(/^v1:/),
      });
    assertNoCredential(JSON.stringify(exported), CREDENTIALS, "pulumi stack export");
    assertNoCredential(stack.backendFiles(), CREDENTIALS, "the backend's files");
  });

  it("a second up with nothing changed is a no-op", () => {
    const out = stack.must(["up", "--yes", "--skip-preview", "--expect-no-changes"]).stdout;
    expect(out).toMatch(/Resources:\n\s+10 unchanged\n/);
  });

  it("preview --diff of a one-mirror change prints exactly that mirror's lines and the checksum", () => {
    const before = stack.outputs().checksums as Record<string, string>;
    stack.setConfig("usWest2Proxy", NEW_PROXY);
    const out = stack.must(["preview", "--diff"]).stdout;
    // Every changed line of the preview: the changed component's node files (its inputs, shown as a line diff and a
    // JSON diff), then the stack outputs' diff; no other resource.
    const changed = out
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => /^[-+~] /.test(l));
    expect(changed).toEqual([
      "~ registry-mirrors:index:MirrorDaemonConfig: (update)",
      "~ nodeFiles: {",
      "~ /etc/containerd/certs.d/docker.io/hosts.toml:",
      `- [host."${OLD_PROXY}"]`,
      `+ [host."${NEW_PROXY}"]`,
      expect.stringMatching(/^~ \/etc\/docker\/daemon\.json +: \(json\) \{$/),
      "~ registry-mirrors: [",
      `~ [0]: "${OLD_PROXY}" => "${NEW_PROXY}"`,
      "~ checksums        : {",
      expect.stringMatching(new RegExp(`^~ usWest2 : "${before.usWest2}" => "[0-9a-f]{64}"$`)),
      "~ usWest2HostsToml :",
      `- [host."${OLD_PROXY}"]`,
      `+ [host."${NEW_PROXY}"]`,
      "~ 1 to update",
    ]);
    // One component's inputs changed (the node files of us-west-2): the engine plans one update, nine unchanged.
    expect(out).toMatch(/Resources:\n\s+~ 1 to update\n\s+9 unchanged\n/);
  });

  it("up applies the change; destroy removes every resource", () => {
    stack.must(["up", "--yes", "--skip-preview"]);
    expect(stack.outputs().usWest2HostsToml).toContain(`[host."${NEW_PROXY}"]`);
    expect(stack.must(["destroy", "--yes", "--skip-preview"]).stdout).toContain("- 10 deleted");
    expect(stack.exportState().deployment.resources ?? []).toEqual([]);
  });
});

describe("the checkpoint secret check", () => {
  let ws: EngineWorkspace;
  beforeAll(() => {
    ws = new EngineWorkspace();
  });
  afterAll(() => ws?.dispose());

  it("fails on the program variant that unwraps the token into a plain output", () => {
    const leaky = new EngineStack(ws, PROGRAM, "engine-leaky");
    leaky.setConfig("mirrorToken", TOKEN, { secret: true });
    leaky.setConfig("leakToken", "true");
    leaky.must(["up", "--yes", "--skip-preview"]);
    expect(() => assertNoCredential(leaky.backendFiles(), CREDENTIALS, "the backend's files")).toThrow(
      "a credential appears plain in the backend's files",
    );
    leaky.must(["destroy", "--yes", "--skip-preview"]);
  });
});

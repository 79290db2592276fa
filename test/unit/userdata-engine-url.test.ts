import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import YAML from "yaml";
import { PolicyError } from "../../components/core/errors";
import { splitApplyScript } from "../../components/core/node-script";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { RUNTIME_NAMES } from "../../components/core/render/types";
import { payloadFromUserData, renderReview, reviewPayloads } from "../../components/core/review";
import {
  nodeEngineFile,
  renderCloudConfig,
  renderEksUserData,
  renderShellUserData,
  userDataFiles,
} from "../../components/core/userdata";

const URL_BASE = "https://artifacts.s3.eu-west-1.amazonaws.com/registry-mirrors";
const SIX = ["docker.io", "ghcr.io", "quay.io", "registry.k8s.io", "gcr.io", "public.ecr.aws"];

function script(second = "mirror-2", runtimes: string[] = ["docker", "containerd"]): string {
  const registries = Object.fromEntries(
    SIX.map((r, i) => [r, { mirrors: ["mirror-1", second, "mirror-3"].map((m) => `https://${m}.r${i}.example.com`) }]),
  );
  return renderNodeConfig({ policy: { registries }, runtimes: runtimes as never }).applyScript;
}

const forms = {
  "cloud-config": (applyScript: string, engineUrl?: string) => renderCloudConfig({ applyScript, engineUrl }),
  shell: (applyScript: string, engineUrl?: string) => renderShellUserData({ applyScript, engineUrl }),
  "EKS AL2023": (applyScript: string, engineUrl?: string) =>
    renderEksUserData({ family: "al2023", applyScript, engineUrl }),
};

describe("nodeEngineFile", () => {
  it("is the engine text, named by version and hash, the same for every policy with the same runtimes", () => {
    const a = nodeEngineFile(script()) as NonNullable<ReturnType<typeof nodeEngineFile>>;
    const b = nodeEngineFile(script("other")) as NonNullable<ReturnType<typeof nodeEngineFile>>;
    expect(a.content).toBe(splitApplyScript(script())?.engine);
    expect(a.sha256).toBe(createHash("sha256").update(a.content).digest("hex"));
    expect(a.name).toBe(`registry-mirrors-engine-0.1.0-${a.sha256.slice(0, 16)}.sh`);
    expect(b).toEqual(a);
    expect(nodeEngineFile(script("mirror-2", ["containerd"]))?.sha256).not.toBe(a.sha256);
    expect(nodeEngineFile("#!/bin/sh\necho hi\n")).toBeUndefined();
  });
});

describe.each(Object.entries(forms))("%s with engineUrl", (_form, render) => {
  const applyScript = script();
  const engine = nodeEngineFile(applyScript) as NonNullable<ReturnType<typeof nodeEngineFile>>;
  const text = render(applyScript, URL_BASE);

  it("carries the data part readable, the URL and sha256, and no engine code", () => {
    const { data } = splitApplyScript(applyScript) as { data: string };
    for (const line of data.split("\n").filter((l) => l.length > 20)) expect(text).toContain(line);
    expect(text).toContain(`url=${URL_BASE}/${engine.name}`);
    expect(text).toContain(`sha256=${engine.sha256}`);
    // Engine functions do not travel; the fetcher is the only code.
    expect(text).not.toMatch(/^docker_merge|merge\.py/m);
    expect(text.length).toBeLessThan(render(applyScript, undefined).length / 3);
  });

  it("reads back as the data part with what the node fetches", () => {
    const [file] = userDataFiles(text);
    expect(file.path).toBe("/var/lib/registry-mirrors/apply-node-config.sh");
    expect(file.content).toBe(splitApplyScript(applyScript)?.data);
    expect(file.engine).toEqual({
      url: `${URL_BASE}/${engine.name}`,
      sha256: engine.sha256,
      version: "0.1.0",
      parts: ["docker", "containerd"],
    });
  });

  it("a one-mirror change shows as the changed lines only, with no engine line; the same engine inline is no change", () => {
    const changed = render(script("mirror-9"), URL_BASE);
    const reviews = reviewPayloads(payloadFromUserData(text), payloadFromUserData(changed), "nodes");
    const lines = renderReview(reviews)
      .split("\n")
      .filter((l) => /^[-+]/.test(l) && !/^(---|\+\+\+) /.test(l));
    expect(lines).toEqual([
      '-    "https://mirror-2.r0.example.com",',
      '+    "https://mirror-9.r0.example.com",',
      ...SIX.slice()
        .sort()
        .flatMap((r) => {
          const i = SIX.indexOf(r);
          return [`-[host."https://mirror-2.r${i}.example.com"]`, `+[host."https://mirror-9.r${i}.example.com"]`];
        }),
    ]);
    expect(reviews[0].notes).toEqual([]);
    expect(reviewPayloads(payloadFromUserData(render(applyScript)), payloadFromUserData(text), "nodes")).toEqual([]);
  });

  it("is deterministic", () => {
    expect(render(script(), URL_BASE)).toBe(text);
  });
});

describe("size: the policy's files and a 1.5 KB fetcher", () => {
  it("docker + containerd with 6 registries x 3 mirrors is at most 8 KB in every form", () => {
    for (const render of Object.values(forms))
      expect(Buffer.byteLength(render(script(), URL_BASE))).toBeLessThanOrEqual(8192);
  });

  it("every runtime a node can run together (all but one of k3s/RKE2) keeps 25% of EC2's 16 KB free in every form", () => {
    const runtimes = RUNTIME_NAMES.filter((r) => r !== "rke2");
    for (const render of Object.values(forms))
      expect(Buffer.byteLength(render(script("mirror-2", runtimes), URL_BASE))).toBeLessThanOrEqual(0.75 * 16384);
  });
});

describe("engineUrl is checked", () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ["not http(s)", "ftp://host/engines/", /ftp: is not http\(s\)/],
    ["not a URL", "engines/", /not a URL/],
    ["empty", "", /not a URL/],
    ["a query", `${URL_BASE}?X-Amz-Signature=abc`, /a query/],
    ["a quote", "https://host/it's/", /quotes/],
    ["a dollar", "https://host/$HOME/", /quotes/],
  ];
  it.each(bad)("%s is refused with the field and a fix", (_name, url, reason) => {
    const error = (() => {
      try {
        renderCloudConfig({ applyScript: script(), engineUrl: url as string });
      } catch (e) {
        return e as PolicyError;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(PolicyError);
    expect(error?.field).toBe("engineUrl");
    expect(error?.message).toMatch(reason);
    expect(error?.message).toMatch(/Fix: /);
  });

  it("credentials in the URL are refused without printing them", () => {
    expect(() => renderShellUserData({ applyScript: script(), engineUrl: "https://bob:hunter2@host/e/" })).toThrow(
      /user data is readable.*"https:\/\/\*\*\*@host\/e\/"/,
    );
    try {
      renderShellUserData({ applyScript: script(), engineUrl: "https://bob:hunter2@host/e/" });
    } catch (e) {
      expect(String((e as Error).message)).not.toMatch(/hunter2|bob/);
    }
  });

  it("a script without an engine/data split, and Bottlerocket, have no engine to fetch", () => {
    expect(() => renderCloudConfig({ applyScript: "#!/bin/sh\necho hi\n", engineUrl: URL_BASE })).toThrow(
      /no engine\/data split/,
    );
    expect(() =>
      renderEksUserData({ family: "bottlerocket", bottlerocketSettings: "[settings]\n", engineUrl: URL_BASE }),
    ).toThrow(/Bottlerocket nodes run no apply script/);
  });

  it("the cloud-config runs the fetcher and the script in one command (a failed fetch stops there)", () => {
    const doc = YAML.parse(renderCloudConfig({ applyScript: script(), engineUrl: URL_BASE }));
    const p = "/var/lib/registry-mirrors/apply-node-config.sh";
    expect(doc.runcmd).toEqual([["sh", "-c", `sh '${p}.fetch' '${p}' && '${p}'`]]);
    expect(doc.write_files.map((f: { path: string; permissions: string }) => [f.path, f.permissions])).toEqual([
      [`${p}.fetch`, "0600"],
      [`${p}.engine-url`, "0600"],
      [`${p}.data`, "0600"],
    ]);
  });
});

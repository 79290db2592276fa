/**
 * A preview and an update of the same program, with the probe on and the same live endpoints, render byte-identical
 * user data: the preview does not probe, the update does, and by default the probe only drops failing mirrors.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchTemplateUserData } from "../../components/aws/userdata";
import { MirrorDaemonConfig } from "../../components/mirror-daemon-config";
import { RegionalMirrorSelector } from "../../components/regional-mirror-selector";
import { setupMocks, unwrap } from "./mocks";

describe("probe: preview and update give the same user data", () => {
  const servers: Server[] = [];
  const urls: string[] = [];
  let hits = 0;

  beforeAll(async () => {
    for (const delay of [250, 0, 60]) {
      const server = createServer((_req, res) => {
        hits++;
        setTimeout(() => res.writeHead(200).end("{}"), delay + Math.round(Math.random() * 40));
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      servers.push(server);
      urls.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    }
  });
  afterAll(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
  });

  async function program(name: string): Promise<{ userData: string; launchTemplate: string; applyScript: string }> {
    const selector = new RegionalMirrorSelector(`${name}-mirrors`, {
      cloud: "aws",
      region: "eu-west-1",
      userCatalog: { regions: { "eu-west-1": { registries: { "docker.io": urls } } } },
      probe: { enabled: true, timeoutMs: 3000 },
    });
    const nodes = new MirrorDaemonConfig(`${name}-nodes`, { policy: selector.policy, runtimes: ["containerd"] });
    return {
      userData: (await unwrap(nodes.userData)) ?? "",
      launchTemplate: await unwrap(launchTemplateUserData({ applyScript: nodes.applyScript })),
      applyScript: await unwrap(nodes.applyScript),
    };
  }

  it("is byte-identical across a preview and two updates", async () => {
    await setupMocks({}, true);
    const preview = await program("preview");
    expect(hits).toBe(0);
    await setupMocks({}, false);
    const update = await program("update");
    const again = await program("again");
    expect(hits).toBe(6);
    expect(update.userData).toBe(preview.userData);
    expect(update.launchTemplate).toBe(preview.launchTemplate);
    expect(again.userData).toBe(preview.userData);
    expect(update.applyScript).toBe(preview.applyScript);
    // Every mirror is kept, in the policy's order (the slowest first).
    const at = urls.map((u) => preview.applyScript.indexOf(u.replace("http://", "")));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect(at).toEqual([...at].sort((a, b) => a - b));
  });
});

/** A multi-layer test image for the pull lab, built without an engine (umoci) and pushed with skopeo. */
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runOk, tmpDir } from "../test/e2e/lab";

export interface ImageSpec {
  /** Number of layers (one file of random bytes each, so gzip cannot shrink them). */
  layers: number;
  /** Size of each layer's file in bytes. */
  layerBytes: number;
}

/**
 * Builds an image of `spec.layers` layers of incompressible data and pushes it to `hostPort/repo:tag` over plain
 * HTTP (use {@link imageBytes} for its size as pulled).
 */
export async function pushLayeredImage(hostPort: string, repo: string, tag: string, spec: ImageSpec): Promise<void> {
  const dir = tmpDir("bench-image");
  try {
    const layout = join(dir, "layout");
    await runOk("umoci", ["init", "--layout", layout]);
    await runOk("umoci", ["new", "--image", `${layout}:img`]);
    for (let i = 0; i < spec.layers; i++) {
      const file = join(dir, `layer-${i}.bin`);
      writeFileSync(file, randomBytes(spec.layerBytes));
      // Each insert is a new layer.
      await runOk("umoci", ["insert", "--image", `${layout}:img`, file, `/data/layer-${i}.bin`], {
        timeoutMs: 300_000,
      });
      rmSync(file);
    }
    await runOk("umoci", ["config", "--image", `${layout}:img`, "--config.cmd", "/data/layer-0.bin"]);
    await runOk(
      "skopeo",
      ["copy", "--quiet", "--dest-tls-verify=false", `oci:${layout}:img`, `docker://${hostPort}/${repo}:${tag}`],
      { timeoutMs: 300_000 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Bytes a client downloads for `repo:tag` on a plain-HTTP registry: manifest + config + layers. */
export async function imageBytes(url: string, repo: string, tag: string): Promise<number> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${tag}`, {
    headers: {
      accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    },
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`manifest ${repo}:${tag}: HTTP ${res.status}`);
  const text = await res.text();
  const manifest = JSON.parse(text) as { config: { size: number }; layers: Array<{ size: number }> };
  return Buffer.byteLength(text) + manifest.config.size + manifest.layers.reduce((a, l) => a + l.size, 0);
}

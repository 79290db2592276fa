/** Physical names that two stacks of one program never share. */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

/**
 * `<base>-<stack>`, for a name the platform requires to be chosen (a pull secret pods reference, the DaemonSet a
 * cluster shows, an `ecr-pullthroughcache/` secret): lower-case letters, digits and `-` only, within `maxLength`.
 * A stack name that needs changing to fit (upper case, `_`, `.`, too long) is shortened and given 6 hex of its
 * sha256, so two stacks still differ.
 */
export function stackUniqueName(base: string, maxLength: number): string {
  const stack = pulumi.getStack();
  if (!stack) return base;
  const slug = stack
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  if (slug === stack && base.length + 1 + slug.length <= maxLength) return `${base}-${slug}`;
  const hash = createHash("sha256").update(stack, "utf8").digest("hex").slice(0, 6);
  const room = maxLength - base.length - hash.length - 2;
  const kept = slug.slice(0, Math.max(0, room)).replace(/-+$/, "");
  return kept ? `${base}-${kept}-${hash}` : `${base}-${hash}`;
}

/** A mirror's CA certificate carried in the policy (PEM text), checked by parsing every certificate in it. */
import { X509Certificate } from "node:crypto";
import { PolicyError } from "../errors";

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Validates a CA bundle given as PEM text: one or more `CERTIFICATE` blocks and nothing else but white space, each
 * parsed as X.509 and a CA certificate (basicConstraints CA:TRUE) or self-signed. Returns the blocks joined by a
 * newline, ending in one newline (the exact bytes the nodes get).
 */
export function parseCaBundle(field: string, value: unknown): string {
  const fix =
    'give the PEM text of the CA that signs the mirror\'s certificate ("-----BEGIN CERTIFICATE-----" ... "-----END CERTIFICATE-----"), e.g. readFileSync("ca.crt", "utf8"); for a CA file already on the node use caFile';
  if (typeof value !== "string" || value.trim() === "") {
    throw new PolicyError(field, value, "a CA certificate must be PEM text", fix);
  }
  const blocks = value.match(PEM_BLOCK) ?? [];
  const rest = value.replace(PEM_BLOCK, "").trim();
  if (blocks.length === 0 || rest !== "") {
    const problem =
      blocks.length === 0
        ? "no PEM CERTIFICATE block"
        : "text outside the PEM CERTIFICATE blocks (a private key or a stray line?)";
    throw new PolicyError(field, preview(value), problem, fix);
  }
  blocks.forEach((block, i) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch (err) {
      throw new PolicyError(
        field,
        preview(block),
        `certificate ${i + 1} of ${blocks.length} does not parse as X.509 (${(err as Error).message})`,
        fix,
      );
    }
    if (!cert.ca && !cert.checkIssued(cert)) {
      throw new PolicyError(
        field,
        cert.subject.replace(/\n/g, ", "),
        `certificate ${i + 1} of ${blocks.length} is a leaf certificate (not a CA, not self-signed), so it cannot verify the mirror`,
        "give the CA that issued the mirror's certificate, not the mirror's own certificate",
      );
    }
  });
  return `${blocks.map((b) => b.replace(/\r\n/g, "\n")).join("\n")}\n`;
}

/** The first and last characters of a long value, for an error message. */
function preview(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 80 ? `${flat.slice(0, 40)}...${flat.slice(-30)}` : flat;
}

/** Parsing and checking `host[:port]` registry addresses (IPv6 as `[::1]:5000`), host names and CIDRs. */
import { domainToASCII } from "node:url";
import * as ipaddr from "ipaddr.js";
import { PolicyError, type Warnings } from "./errors";

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * True for a DNS host name (labels of letters, digits and hyphens) or `localhost`. Lower-case input expected. A name
 * whose last label is a number (`999.1.1.1`, `0x7f.0.0.1`, `2130706433`) is not one: URL parsers read it as an IPv4
 * address in some form, so only the dotted-quad form is accepted (by the callers).
 */
export function isHostName(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  const labels = host.split(".");
  if (/^(\d+|0x[0-9a-f]*)$/.test(labels[labels.length - 1])) return false;
  return labels.every((label) => LABEL.test(label));
}

/** Splits `host[:port]` (IPv6 as `[::1]:5000`) into its parts, or returns undefined when it is not one. */
export function splitHostPort(value: string): { host: string; port?: number } | undefined {
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(value);
  if (bracketed) {
    if (!ipaddr.IPv6.isValid(bracketed[1])) return undefined;
    return withPort(`[${bracketed[1].toLowerCase()}]`, bracketed[2]);
  }
  const plain = /^([^:/\s]+)(?::(\d{1,5}))?$/.exec(value);
  if (!plain) return undefined;
  const host = plain[1].toLowerCase();
  if (!isHostName(host) && !ipaddr.IPv4.isValidFourPartDecimal(host)) return undefined;
  return withPort(host, plain[2]);
}

function withPort(host: string, port: string | undefined): { host: string; port?: number } | undefined {
  if (port === undefined) return { host };
  const n = Number(port);
  if (!Number.isInteger(n) || n < 1 || n > 65535) return undefined;
  return { host, port: n };
}

/**
 * Validates and lower-cases a `host[:port]`, throwing a PolicyError that names `field`. With `warnings`, an
 * internationalised name is accepted as its punycode, with a warning.
 */
export function parseHostPort(field: string, value: unknown, warnings?: Warnings): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new PolicyError(
      field,
      value,
      'expected a registry host such as "ghcr.io" or "10.0.0.5:5000"',
      "give a host name or IP address, optionally with :port, without scheme or path",
    );
  }
  let text = value.trim();
  // An internationalised name goes in its punycode (ASCII) form, with a warning: look-alike letters are a classic trap.
  if (/[^\x00-\x7f]/.test(text)) {
    const [name, port] = /^([^:]*)(:\d+)?$/.exec(text)?.slice(1) ?? [text, undefined];
    const ascii = domainToASCII(name ?? "");
    if (ascii === "" || warnings === undefined) {
      throw new PolicyError(
        field,
        value,
        "not a valid host[:port] (an internationalised name is accepted only in a mirror policy)",
        ascii === ""
          ? "write the host in ASCII"
          : `write its ASCII form "${ascii}${port ?? ""}" if it is the host you mean`,
      );
    }
    text = `${ascii}${port ?? ""}`;
    warnings.push(
      `${field}: "${value}" is an internationalised host name, written as "${text}"; check it is the registry you mean (letters of other scripts can look like Latin ones)`,
    );
  }
  const parts = splitHostPort(text);
  if (!parts) {
    throw new PolicyError(
      field,
      value,
      "not a valid host[:port]",
      'write only the host and optional port, e.g. "registry.example.com:5000" (no scheme, path or spaces)',
    );
  }
  return parts.port === undefined ? parts.host : `${parts.host}:${parts.port}`;
}

/** True when `value` is a CIDR block such as `10.0.0.0/8` or `fd00::/8`. */
export function isCidr(value: string): boolean {
  if (!value.includes("/")) return false;
  try {
    const [addr, bits] = ipaddr.parseCIDR(value);
    const written = value.split("/")[0];
    const strict = addr.kind() === "ipv4" ? ipaddr.IPv4.isValidFourPartDecimal(written) : ipaddr.IPv6.isValid(written);
    return strict && bits >= 0 && bits <= (addr.kind() === "ipv4" ? 32 : 128);
  } catch {
    return false;
  }
}

/**
 * Validates one Docker `insecure-registries` entry: a CIDR block, or a `host[:port]`. A CIDR is
 * normalised to its network address (dockerd does the same, and two spellings would make a diff).
 */
export function parseInsecureRegistry(field: string, value: unknown): string {
  if (typeof value === "string" && value.includes("/") && !value.includes("://")) {
    if (!isCidr(value)) {
      throw new PolicyError(
        field,
        value,
        "not a valid CIDR block",
        'write a network such as "10.0.0.0/8" (address, slash, prefix length 0-32 for IPv4 or 0-128 for IPv6)',
      );
    }
    const [addr, bits] = ipaddr.parseCIDR(value);
    const network =
      addr.kind() === "ipv4"
        ? ipaddr.IPv4.networkAddressFromCIDR(value).toString()
        : ipaddr.IPv6.networkAddressFromCIDR(value).toString();
    return `${network}/${bits}`;
  }
  return parseHostPort(field, value);
}

import { parse as parseToml, stringify as stringifyToml } from "smol-toml";
import { PolicyError } from "../errors";
import { firstLine } from "./files";

/** Inputs of {@link renderBottlerocketUserData}. */
export interface BottlerocketUserDataArgs {
  /** Settings TOML (e.g. from renderBottlerocketSettings). */
  settings: string;
  /** The user's own settings TOML (e.g. `settings.kubernetes` for self-managed nodes), merged in. */
  userSettings?: string;
  /** Refused when set: Bottlerocket runs no Docker daemon and no user-data scripts. */
  applyScript?: string;
  /** Refused when set (non-empty): Docker daemon settings have no Bottlerocket equivalent. */
  dockerSettings?: Record<string, unknown>;
}

/**
 * Bottlerocket user data: TOML settings. The user's settings are merged in; a key both set is an error
 * (no silent override). Docker-only settings and the apply script are refused.
 */
export function renderBottlerocketUserData(args: BottlerocketUserDataArgs): string {
  refuseDockerOnBottlerocket(args);
  const ours = parseSettings("settings", args.settings);
  // Without settings to merge, the renderer's text (and its header comment) goes out unchanged.
  if (args.userSettings === undefined) return args.settings.endsWith("\n") ? args.settings : `${args.settings}\n`;
  const text = stringifyToml(mergeTables(ours, parseSettings("userSettings", args.userSettings), ""));
  return text.endsWith("\n") ? text : `${text}\n`;
}

/** Throws when a Bottlerocket target is asked for what only a Docker (or script-running) node can take. */
export function refuseDockerOnBottlerocket(args: {
  applyScript?: unknown;
  dockerSettings?: Record<string, unknown>;
}): void {
  if (args.applyScript !== undefined) {
    throw new PolicyError(
      "applyScript",
      "(the node apply script)",
      "Bottlerocket runs no user-data scripts and has no Docker daemon.json",
      "pass bottlerocketSettings (the Bottlerocket settings TOML) instead of an apply script",
    );
  }
  const keys = Object.keys(args.dockerSettings ?? {});
  if (keys.length > 0) {
    throw new PolicyError(
      "docker",
      keys.sort(),
      "Bottlerocket has no Docker daemon, so Docker-only settings cannot apply",
      "remove the docker settings for Bottlerocket nodes; registry mirrors go in bottlerocketSettings",
    );
  }
}

function parseSettings(field: string, text: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new PolicyError(
      field,
      firstLine(text),
      `not valid TOML (${(err as Error).message.split("\n")[0]})`,
      "pass Bottlerocket settings as TOML, e.g. [settings.kubernetes] ...",
    );
  }
}

function mergeTables(
  ours: Record<string, unknown>,
  theirs: Record<string, unknown>,
  at: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...ours };
  for (const [key, value] of Object.entries(theirs)) {
    const path = at ? `${at}.${key}` : key;
    if (!(key in out)) out[key] = value;
    else if (isTable(out[key]) && isTable(value))
      out[key] = mergeTables(out[key] as Record<string, unknown>, value as Record<string, unknown>, path);
    else
      throw new PolicyError(
        "userSettings",
        path,
        "this setting is also set by the mirror settings",
        `remove ${path} from userSettings, or change it in the mirror policy`,
      );
  }
  return out;
}

function isTable(v: unknown): boolean {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

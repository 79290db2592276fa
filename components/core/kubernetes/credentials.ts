/** The registry pull secret's content: static credentials, `.dockerconfigjson` keys and the document itself. */
import { PolicyError } from "../errors";
import { parseHostPort } from "../host-port";
import { isDockerHubName } from "../policy";

/** One registry's credential as a user gives it: username + password, or `auth` (base64 of `user:password`), or both if they agree. */
export interface StaticCredentialInput {
  username?: string;
  password?: string;
  auth?: string;
}

/** A resolved credential. */
export interface RegistryCredential {
  username: string;
  password: string;
}

// A credential never appears in an error message.
const HIDDEN = "(hidden)";

/** Key docker, kubelet and `kubectl create secret docker-registry` use for Docker Hub. */
export const DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/";

/**
 * Validates a registry key (`host[:port]`) and returns the key the `.dockerconfigjson` needs. Docker Hub becomes
 * `https://index.docker.io/v1/`: kubelet matches short names like `nginx` only against that key.
 */
export function registryAuthKey(field: string, registry: unknown): string {
  if (typeof registry === "string" && /^[a-z]+:\/\//i.test(registry)) {
    throw new PolicyError(
      field,
      registry,
      "a registry key is a host[:port], not a URL",
      'write only the host and optional port, e.g. "ghcr.io" or "10.0.0.5:5000"',
    );
  }
  const host = parseHostPort(field, registry);
  return isDockerHubName(host) ? DOCKER_HUB_AUTH_KEY : host;
}

function decodeAuth(field: string, auth: string): RegistryCredential {
  const text = auth.trim();
  const valid = /^[A-Za-z0-9+/]*={0,2}$/.test(text) && text.length % 4 === 0 && text.length > 0;
  const decoded = valid ? Buffer.from(text, "base64").toString("utf8") : "";
  const colon = decoded.indexOf(":");
  if (!valid || colon <= 0) {
    throw new PolicyError(
      field,
      HIDDEN,
      'auth must be base64 of "username:password"',
      "encode it with `printf '%s' 'user:password' | base64 -w0`, or give username and password instead",
    );
  }
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Resolves username/password/auth to one credential, refusing missing parts and disagreeing duplicates. */
export function resolveStaticCredential(field: string, input: StaticCredentialInput): RegistryCredential {
  const { username, password, auth } = input;
  if (auth !== undefined) {
    const fromAuth = decodeAuth(`${field}.auth`, auth);
    if (username !== undefined && username !== fromAuth.username) {
      throw new PolicyError(
        `${field}.username`,
        HIDDEN,
        "username and auth are both given and disagree",
        "give either username + password or auth, or make them match",
      );
    }
    if (password !== undefined && password !== fromAuth.password) {
      throw new PolicyError(
        `${field}.password`,
        HIDDEN,
        "password and auth are both given and disagree",
        "give either username + password or auth, or make them match",
      );
    }
    return fromAuth;
  }
  if (typeof username !== "string" || username === "") {
    throw new PolicyError(
      `${field}.username`,
      username === undefined ? undefined : HIDDEN,
      "a username is required (or auth)",
      'give username and password, or auth = base64("user:password")',
    );
  }
  if (username.includes(":")) {
    throw new PolicyError(
      `${field}.username`,
      HIDDEN,
      "a username must not contain ':' (auth splits at the first one)",
      "use the registry's user name without ':'",
    );
  }
  if (typeof password !== "string" || password === "") {
    throw new PolicyError(
      `${field}.password`,
      password === undefined ? undefined : HIDDEN,
      "a password or token is required (or auth)",
      "give the password or access token for this registry",
    );
  }
  return { username, password };
}

/**
 * The `.dockerconfigjson` document: `{"auths": {key: {username, password, auth}}}`, keys sorted, compact like
 * `kubectl create secret docker-registry`.
 */
export function dockerConfigJson(credentials: Record<string, RegistryCredential>): string {
  const auths: Record<string, { username: string; password: string; auth: string }> = {};
  for (const key of Object.keys(credentials).sort()) {
    const { username, password } = credentials[key];
    auths[key] = { username, password, auth: Buffer.from(`${username}:${password}`, "utf8").toString("base64") };
  }
  return JSON.stringify({ auths });
}

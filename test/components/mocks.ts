import * as pulumi from "@pulumi/pulumi";

/** One resource the program registered, as the mock saw it. */
export interface RecordedResource {
  type: string;
  name: string;
  /** Inputs as sent to the engine: secrets still wrapped (see `isRpcSecret`). */
  inputs: Record<string, any>;
  custom: boolean;
  id?: string;
}

/** Results for `call` mocks (data sources, provider functions), keyed by token such as `aws:index/getRegion:getRegion`. */
export type CallResults = Record<string, (args: Record<string, any>) => Record<string, any>>;

export interface MockHandle {
  resources: RecordedResource[];
  calls: { token: string; args: Record<string, any> }[];
  /** The recorded resources of one type token. */
  ofType(type: string): RecordedResource[];
  /** Waits until every resource registration started so far has reached the mock. */
  settle(): Promise<void>;
  /** Forgets what was recorded so far. */
  reset(): void;
}

/**
 * Installs Pulumi mocks (call it in `beforeAll`, before constructing any resource). `preview` = true
 * runs the program as `pulumi preview` would.
 */
export async function setupMocks(callResults: CallResults = {}, preview = false, stack = "stack"): Promise<MockHandle> {
  const resources: RecordedResource[] = [];
  const calls: { token: string; args: Record<string, any> }[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        const id = args.custom ? `${args.name}-id` : undefined;
        resources.push({ type: args.type, name: args.name, inputs: args.inputs, custom: args.custom ?? false, id });
        return { id: id ?? "", state: args.inputs };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        calls.push({ token: args.token, args: args.inputs });
        const result = callResults[args.token];
        if (!result) throw new Error(`no call mock for ${args.token}`);
        return result(args.inputs);
      },
    },
    "project",
    stack,
    preview,
  );
  return {
    resources,
    calls,
    ofType: (type) => resources.filter((r) => r.type === type),
    settle: () => settle(),
    reset: () => {
      resources.length = 0;
      calls.length = 0;
    },
  };
}

/** Resolves with an Output's value (secret or not). */
export function unwrap<T>(output: pulumi.Output<T> | pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(output).apply((v) => resolve(v as T)));
}

/** Waits for a resource to be fully registered with the (mock) engine. */
export async function registered(resource: pulumi.Resource): Promise<void> {
  await unwrap(resource.urn);
}

async function settle(): Promise<void> {
  // Registration is a chain of promises; a few turns of the event loop let every pending RPC reach the mock.
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

/** Returns the plain value of a mock input, unwrapping a secret. */
export function plain(value: any): any {
  return pulumi.runtime.isRpcSecret(value) ? pulumi.runtime.unwrapRpcSecret(value) : value;
}

/** True when a mock input arrived as a secret. */
export function isSecretInput(value: any): boolean {
  return pulumi.runtime.isRpcSecret(value);
}

/** Every string in a mock input that is not inside a secret. */
export function plainStrings(value: unknown, out: string[] = []): string[] {
  if (pulumi.runtime.isRpcSecret(value)) return out;
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => plainStrings(v, out));
  else if (value && typeof value === "object") Object.values(value).forEach((v) => plainStrings(v, out));
  return out;
}

/** The credentials found outside secrets in the recorded inputs, as is or base64-encoded (empty when none). */
export function leakedCredentials(resources: RecordedResource[], credentials: string[]): string[] {
  const visible = resources.flatMap((r) => plainStrings(r.inputs));
  const decoded = visible.map((v) => Buffer.from(v, "base64").toString("utf8"));
  return credentials.filter((c) => [...visible, ...decoded].some((v) => v.includes(c)));
}

/** Helpers for the components' Outputs: whether an input is known now, computing from inputs, outputs made on first use. */
import * as pulumi from "@pulumi/pulumi";

/**
 * True when `value` holds no Output or Promise anywhere inside, i.e. it is known now. Components validate such
 * inputs in the constructor, so a bad value fails `pulumi preview` with a clear message instead of surfacing
 * later from inside an `apply`.
 */
export function isKnown(value: unknown): boolean {
  if (pulumi.Output.isInstance(value) || value instanceof Promise) return false;
  if (Array.isArray(value)) return value.every(isKnown);
  if (typeof value === "object" && value !== null) return Object.values(value).every(isKnown);
  return true;
}

/**
 * Runs `compute` on the resolved inputs. When every input is already known it runs right away, so its errors
 * are thrown from the constructor; otherwise it runs inside `apply` once the inputs resolve.
 */
export function computeOutput<I, O>(inputs: I, compute: (resolved: pulumi.Unwrap<I>) => O): pulumi.Output<O> {
  if (isKnown(inputs)) {
    const result = compute(inputs as pulumi.Unwrap<I>);
    return pulumi.output(inputs).apply(() => result) as pulumi.Output<O>;
  }
  return pulumi.output(inputs).apply((resolved) => compute(resolved as pulumi.Unwrap<I>)) as pulumi.Output<O>;
}

/**
 * Outputs made on first use, then kept. A fleet of node groups reads one or two outputs of each component, and
 * every Output costs the SDK promise bookkeeping, so components make the rarely read ones on demand.
 */
export class OutputsOnDemand {
  private readonly made = new Map<string, pulumi.Output<unknown>>();

  get<T>(key: string, make: () => pulumi.Output<T>): pulumi.Output<T> {
    if (!this.made.has(key)) this.made.set(key, make());
    return this.made.get(key) as pulumi.Output<T>;
  }
}

/**
 * The error Pulumi reports for a failure inside a component's `apply`: a `ResourceError` on the component, printed
 * as `error: <text>` without a stack trace, with the same text the constructor throws for a known value.
 */
export function resourceError(error: unknown, resource: pulumi.Resource): Error {
  if (pulumi.ResourceError.isInstance(error)) return error;
  const text = error instanceof Error ? error.message : String(error);
  const failure = new pulumi.ResourceError(text, resource, true);
  // Each resource input the failed value reaches prefixes `error serializing property "x": ` to the message of the
  // same error object; the text the user acts on stays as written.
  Object.defineProperty(failure, "message", { get: () => text, set: () => undefined, configurable: true });
  return failure;
}

/**
 * Runs `compute` for `owner()` inside an `apply`: an error becomes {@link resourceError}. `owner` is called only on
 * failure, so a constructor can pass a closure over a component that `super()` has not returned yet.
 */
export function onResource<T>(owner: () => pulumi.Resource | undefined, compute: () => T): T {
  try {
    return compute();
  } catch (error) {
    const resource = owner();
    throw resource ? resourceError(error, resource) : error;
  }
}

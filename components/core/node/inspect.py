# inspect.py CONFIG: reads containerd's config.toml with Python's tomllib (3.11+; exit 3 without it) and prints what
# containerd.sh needs: "version N", "path CONFIG_PATH", "conflict mirrors|tls", "crioff 1" (CRI disabled), or
# "error MSG" when the file is not valid TOML or its version is unknown.
import sys
try:
    import tomllib
except ImportError:
    sys.exit(3)
try:
    with open(sys.argv[1], "rb") as f:
        doc = tomllib.load(f)
except ValueError as e:
    sys.exit(print("error", str(e).replace("\n", " ")))
def table(value, *names):
    for name in names:
        value = value.get(name) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else {}
version = doc.get("version", 1)
cri = {1: "cri", 2: "io.containerd.grpc.v1.cri", 3: "io.containerd.cri.v1.images"}.get(version)
if cri is None:
    sys.exit(print("error unsupported config version %r" % (version,)))
registry = table(doc, "plugins", cri, "registry")
path = registry.get("config_path")
print("version", version)
print("path", path if isinstance(path, str) else "")
if registry.get("mirrors"):
    print("conflict mirrors")
if any(isinstance(c, dict) and c.get("tls") for c in table(registry, "configs").values()):
    print("conflict tls")
if version < 3 and cri in (doc.get("disabled_plugins") or []):
    print("crioff 1")

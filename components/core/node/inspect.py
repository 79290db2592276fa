# inspect.py CONFIG: reads one containerd config file with Python's tomllib (3.11+; exit 3 without it) and prints
# what containerd.sh needs, one "KEY VALUE" line each:
#   version N                 the file's config version (1 when it has none)
#   path CONFIG_PATH          the CRI registry config_path, only when the file sets it (even to "")
#   conflict mirrors|tls      deprecated inline registry settings containerd refuses together with config_path
#   crioff 1                  the CRI plugin is disabled
#   set NAME VALUE            a CRI image setting that decides containerd 2.1+'s pull path, when the file sets it
#                             (NAME: use_local_image_pull, discard_unpacked_layers, disable_snapshot_annotations,
#                             max_concurrent_downloads, image_pull_with_sync_fs; VALUE: true, false or a number),
#                             read where containerd 2.x reads it after migrating a version 1 or 2 file
#   localreg 1                registry mirrors, configs or auths (2.1+ then pulls locally)
#   error MSG                 the file is not valid TOML or its version is unknown
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
def show(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int) else None
version = doc.get("version", 1)
# Versions 3 (containerd 2.0-2.2) and 4 (2.3+) keep the CRI image settings in the same plugin.
cri = {1: "cri", 2: "io.containerd.grpc.v1.cri", 3: "io.containerd.cri.v1.images", 4: "io.containerd.cri.v1.images"}.get(version)
if cri is None:
    sys.exit(print("error unsupported config version %r" % (version,)))
plugin = table(doc, "plugins", cri)
registry = table(plugin, "registry")
print("version", version)
path = registry.get("config_path")
if isinstance(path, str):
    print("path", path)
if registry.get("mirrors"):
    print("conflict mirrors")
if any(isinstance(c, dict) and c.get("tls") for c in table(registry, "configs").values()):
    print("conflict tls")
disabled = doc.get("disabled_plugins") or []
if (version < 3 and cri in disabled) or (version >= 3 and ("io.containerd.grpc.v1.cri" in disabled or cri in disabled)):
    print("crioff 1")
if registry.get("mirrors") or registry.get("configs") or registry.get("auths"):
    print("localreg 1")
# containerd 2.x migrates a version 1 or 2 file's CRI table: these two keys at its top, the snapshot keys from its
# containerd table only when that table has runtimes; use_local_image_pull is never migrated.
images = table(doc, "plugins", "io.containerd.cri.v1.images")
found = {"use_local_image_pull": images.get("use_local_image_pull")}
if version >= 3:
    keys = ["discard_unpacked_layers", "disable_snapshot_annotations", "max_concurrent_downloads", "image_pull_with_sync_fs"]
    found.update((k, plugin.get(k)) for k in keys)
else:
    found.update((k, plugin.get(k)) for k in ["max_concurrent_downloads", "image_pull_with_sync_fs"])
    containerd = table(plugin, "containerd")
    if "runtimes" in containerd:
        found.update((k, containerd.get(k)) for k in ["discard_unpacked_layers", "disable_snapshot_annotations"])
for name, value in found.items():
    if show(value) is not None:
        print("set", name, show(value))

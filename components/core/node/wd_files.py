# The node watchdog's file handling (watchdog.py): node paths, atomic writes, the apply script's folder lock, and
# the watchdog's own state-folder lock.

import errno
import fcntl
import os
import tempfile


def node_path(root, path):
    return root.rstrip("/") + path


TEMPLATE_SUFFIX = ".registry-mirrors.template"


def through_links(root, full, hops=16):
    """The file a write to `full` must replace so a symlink stays a link: its target, an absolute target read under
    the node root; an ECR template beside a linked hosts.toml sits beside the link's target, where apply put it."""
    if full.endswith(TEMPLATE_SUFFIX) and not os.path.lexists(full):
        base = full[: -len(TEMPLATE_SUFFIX)]
        if os.path.islink(base):
            return through_links(root, base, hops) + TEMPLATE_SUFFIX
    for _ in range(hops):
        if not os.path.islink(full):
            break
        target = os.readlink(full)
        full = node_path(root, target) if os.path.isabs(target) else os.path.join(os.path.dirname(full), target)
        full = os.path.normpath(full)
    return full

def write_atomic(path, data, mode=None, durable=True):
    """Replaces `path` with `data` (bytes or str): temp file beside it, fsync, rename; keeps mode and owner.
    `durable=False` skips the fsyncs (status and metrics: rewritten every round, nothing depends on them)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    folder = os.path.dirname(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
        os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".registry-mirrors.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if st is not None:
                os.fchmod(f.fileno(), st.st_mode & 0o7777)
                try:
                    os.fchown(f.fileno(), st.st_uid, st.st_gid)
                except PermissionError:
                    pass
            else:
                os.fchmod(f.fileno(), 0o644 if mode is None else mode)
            if durable:
                os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if not durable:
        return
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8")
    except FileNotFoundError:
        return None


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FolderLock:
    """The apply script's lock of a node folder: flock on FOLDER/.registry-mirrors.lock (removed when released, as the
    apply script does), and its .lock.d fallback honoured when a live pid holds it. Never waits."""

    def __init__(self, folder):
        self.path = os.path.join(folder, ".registry-mirrors.lock")
        self.fd = None

    def acquire(self):
        held = self.path + ".d"
        try:
            with open(os.path.join(held, "pid")) as f:
                if pid_alive(int(f.read().strip() or "0")):
                    return False
        except (OSError, ValueError):
            if os.path.isdir(held):
                return False
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the holder removed it as it ended: try again next round
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self):
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


def state_lock(state_dir):
    os.makedirs(state_dir, exist_ok=True)
    fd = os.open(os.path.join(state_dir, ".lock"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd

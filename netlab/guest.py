"""The guest image of netlab's VMs: a Debian kernel and a busybox initramfs, built once and cached.

The kernel comes from the package `linux-image-amd64` points to (downloaded with
`apt-get download` and unpacked with `dpkg -x`: nothing is installed on this machine).
The initramfs (newc cpio, gzip, written here) holds busybox-static, the NIC driver
the guest needs (loaded with insmod in the order modules.dep gives) and an init that
takes the guest's address from the kernel command line (`netlab.ip=A.B.C.D/N`) and then
only keeps the guest alive: the guest's kernel answers ping by itself.

Under TCG, unpacking the xz-compressed bzImage costs the guest ~7 s of its boot, so the
image also holds the kernel uncompressed (`vmlinux`, taken out of `vmlinuz`), which qemu
boots directly through its PVH entry; `GuestImage.kernel` is that one when the kernel has a
PVH entry, else `vmlinuz`.

A finished image is a folder `<cache>/guest-<kernel>-<busybox>-v<N>` holding `vmlinuz`,
(`vmlinux`), `initrd.img` and `versions.json`; it is built in a temporary folder and renamed into
place, so a folder that exists is complete.
"""

from __future__ import annotations

import gzip
import io
import json
import lzma
import os
import re
import shutil
import stat
import struct
import zlib
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from .config import NetlabError

CACHE_DIR = Path("/var/cache/hacert-netlab")
KERNEL_META = "linux-image-amd64"
BUSYBOX = "busybox-static"
LAYOUT = 3  # bump when the initramfs changes, so cached images are rebuilt
MODULES = ("e1000",)  # with their dependencies
"""The guest's NIC driver. An emulated e1000, not virtio-net: under TCG on a loaded machine a live-migrated
virtio-net guest sometimes found its transmit ring broken on arrival ("virtio_net virtio0: output.0:id 1
is not a head!" on its console) and never answered again, a fault of the emulation, not of the cluster."""
CONSOLE_MARK = "netlab-guest-ready"

INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
for m in $(cat /etc/modules); do insmod /lib/modules/$m.ko; done
for word in $(cat /proc/cmdline); do
  case $word in
    netlab.ip=*) addr=${word#netlab.ip=} ;;
    netlab.name=*) hostname ${word#netlab.name=} ;;
  esac
done
ip link set lo up
tries=0
while ! ip link show eth0 >/dev/null 2>&1 && [ $tries -lt 100 ]; do sleep 0.1; tries=$((tries+1)); done
[ -n "$addr" ] && ip addr add $addr dev eth0
ip link set eth0 up
echo "%(mark)s $(hostname) $addr $(cut -d' ' -f1 /proc/uptime)" > /dev/console
while true; do sleep 3600; done
""" % {"mark": CONSOLE_MARK}


@dataclass(frozen=True)
class GuestImage:
    kernel: Path
    initrd: Path
    versions: dict[str, str]

    @property
    def folder(self) -> Path:
        return self.kernel.parent


def _run(argv: list[str], cwd: Path | None = None, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise NetlabError(f"guest image: {argv[0]} is missing ({exc})") from None
    except subprocess.TimeoutExpired:
        raise NetlabError(f"guest image: {' '.join(argv)} did not finish within {timeout:g} s") from None


def kernel_package() -> str:
    """The versioned kernel package `linux-image-amd64` depends on (linux-image-6.1.0-N-amd64)."""
    out = _run(["apt-cache", "depends", KERNEL_META], timeout=60)
    found = re.findall(r"Depends:\s*(linux-image-[0-9][^\s]*-amd64)", out.stdout)
    if out.returncode != 0 or not found:
        raise NetlabError(f"guest image: apt cannot say which kernel {KERNEL_META} points to "
                          f"(apt-cache depends {KERNEL_META}: {out.stderr.strip() or 'no linux-image dependency'}); "
                          "run apt-get update")
    return found[0]


def download_package(package: str, into: Path) -> Path:
    result = _run(["apt-get", "download", package], cwd=into)
    debs = sorted(into.glob(f"{package}_*.deb"))
    if result.returncode != 0 or not debs:
        raise NetlabError(f"guest image: apt-get download {package} failed: "
                          f"{result.stderr.strip().splitlines()[-1:] or result.returncode}")
    return debs[0]


def _deb_version(deb: Path) -> str:
    return deb.name.split("_")[1]


def _installed_version(package: str) -> str | None:
    out = _run(["dpkg-query", "-W", "-f", "${Status} ${Version}", package], timeout=30)
    parts = out.stdout.split()
    return parts[-1] if out.returncode == 0 and parts[:3] == ["install", "ok", "installed"] else None


def _busybox(work: Path) -> tuple[Path, str]:
    """busybox-static's binary: the installed one, else unpacked from the downloaded package."""
    version = _installed_version(BUSYBOX)
    if version and Path("/bin/busybox").exists():
        return Path("/bin/busybox"), version
    deb = download_package(BUSYBOX, work)
    _unpack(deb, work / "busybox")
    binary = work / "busybox" / "bin" / "busybox"
    if not binary.exists():
        raise NetlabError(f"guest image: {deb.name} holds no bin/busybox")
    return binary, _deb_version(deb)


def _unpack(deb: Path, into: Path) -> None:
    result = _run(["dpkg", "-x", str(deb), str(into)])
    if result.returncode != 0:
        raise NetlabError(f"guest image: dpkg -x {deb.name} failed: {result.stderr.strip()}")


def module_order(modules_dir: Path, wanted: tuple[str, ...]) -> list[Path]:
    """The .ko files of `wanted` and everything they depend on, dependencies first (modules.dep)."""
    deps: dict[str, list[str]] = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        if ":" in line:
            module, rest = line.split(":", 1)
            deps[module] = rest.split()
    by_name = {Path(m).name.split(".ko")[0].replace("-", "_"): m for m in deps}
    order: list[str] = []

    def visit(module: str) -> None:
        if module in order:
            return
        for dep in deps[module]:
            visit(dep)
        order.append(module)

    for name in wanted:
        if name not in by_name:
            raise NetlabError(f"guest image: the kernel has no module {name}")
        visit(by_name[name])
    return [modules_dir / m for m in order]


class Cpio:
    """A newc ("070701") archive written in memory."""

    def __init__(self) -> None:
        self.out = io.BytesIO()
        self.ino = 0

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        self.ino += 1
        encoded = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data), 0, 0,
                  rdev[0], rdev[1], len(encoded), 0]
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.out.write(header + encoded)
        self.out.write(b"\0" * (-(len(header) + len(encoded)) % 4))
        self.out.write(data)
        self.out.write(b"\0" * (-len(data) % 4))

    def directory(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def char_device(self, name: str, major: int, minor: int) -> None:
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        data = self.out.getvalue()
        return data + b"\0" * (-len(data) % 512)


def uncompressed_kernel(bzimage: bytes) -> bytes | None:
    """The ELF vmlinux inside a bzImage (xz or gzip payload); None when none is found."""
    for magic, make in ((b"\xfd7zXZ\x00", lzma.LZMADecompressor), (b"\x1f\x8b\x08\x00", lambda: zlib.decompressobj(31))):
        start = bzimage.find(magic)
        while start >= 0:
            try:
                data = make().decompress(bzimage[start:])
            except (lzma.LZMAError, zlib.error):
                data = b""
            if data.startswith(b"\x7fELF"):
                return data
            start = bzimage.find(magic, start + 1)
    return None


def has_pvh_entry(elf: bytes) -> bool:
    """Does this 64-bit ELF kernel carry the Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) qemu boots by?"""
    if elf[:5] != b"\x7fELF\x02":
        return False
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        kind, _, offset, _, _, size = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        if kind != 4:  # PT_NOTE
            continue
        pos, end = offset, offset + size
        while pos + 12 <= end:
            namesz, descsz, note = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12:pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and note == 18:
                return True
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def initramfs(busybox: Path, modules: list[Path]) -> bytes:
    archive = Cpio()
    for folder in ("bin", "dev", "etc", "lib", "lib/modules", "proc", "root", "run", "sys", "tmp", "sbin",
                   "usr", "usr/bin", "usr/sbin"):
        archive.directory(folder)
    archive.char_device("dev/console", 5, 1)
    archive.char_device("dev/null", 1, 3)
    archive.file("bin/busybox", busybox.read_bytes(), 0o755)
    names = []
    for module in modules:
        name = module.name.split(".ko")[0]
        names.append(name)
        archive.file(f"lib/modules/{name}.ko", module.read_bytes())
    archive.file("etc/modules", ("\n".join(names) + "\n").encode())
    archive.file("init", INIT.encode(), 0o755)
    return gzip.compress(archive.finish(), compresslevel=6, mtime=0)


_resolved: dict[Path, GuestImage] = {}  # per process: nodes ask at every boot


def ensure_guest_image(cache_dir: Path | None = None) -> GuestImage:
    """The cached guest image, built first when absent (kernel from Debian's package, our initramfs).
    When apt cannot deliver (offline) and an earlier image of this layout is cached, that one is used."""
    cache = Path(cache_dir or CACHE_DIR)
    if cache in _resolved:
        return _resolved[cache]
    cache.mkdir(parents=True, exist_ok=True)
    try:
        package = kernel_package()
        busybox_version = _installed_version(BUSYBOX) or "dl"
        name = f"guest-{package.removeprefix('linux-image-')}-busybox{busybox_version}-v{LAYOUT}".replace(":", "_")
        with FileLock(str(cache / ".build.lock"), timeout=600):
            folder = cache / name
            if not (folder / "versions.json").exists():
                _build(package, folder)
    except NetlabError as exc:
        earlier = sorted(cache.glob(f"guest-*-v{LAYOUT}/versions.json"), key=lambda p: p.stat().st_mtime)
        if not earlier:
            raise
        folder = earlier[-1].parent
        print(f"netlab: {exc}; using the cached guest image {folder.name}", file=sys.stderr, flush=True)
    kernel = folder / "vmlinux" if (folder / "vmlinux").exists() else folder / "vmlinuz"
    image = GuestImage(kernel, folder / "initrd.img", json.loads((folder / "versions.json").read_text()))
    _resolved[cache] = image
    return image


def _build(package: str, folder: Path) -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="guest-build-", dir=folder.parent) as tmp:
        work = Path(tmp)
        deb = download_package(package, work)
        _unpack(deb, work / "kernel")
        release = package.removeprefix("linux-image-")
        kernel = work / "kernel" / "boot" / f"vmlinuz-{release}"
        modules_dir = work / "kernel" / "lib" / "modules" / release
        if not kernel.exists() or not modules_dir.is_dir():
            raise NetlabError(f"guest image: {deb.name} holds no boot/vmlinuz-{release} or lib/modules/{release}")
        if not (modules_dir / "modules.dep").exists():  # made by depmod when a kernel is installed
            result = _run(["depmod", "-b", str(work / "kernel"), release])
            if result.returncode != 0:
                raise NetlabError(f"guest image: depmod (package kmod) failed: {result.stderr.strip()}")
        busybox, busybox_version = _busybox(work)
        image = work / "image"
        image.mkdir()
        shutil.copy(kernel, image / "vmlinuz")
        vmlinux = uncompressed_kernel(kernel.read_bytes())
        if vmlinux is not None and has_pvh_entry(vmlinux):
            (image / "vmlinux").write_bytes(vmlinux)
        modules = module_order(modules_dir, MODULES)
        (image / "initrd.img").write_bytes(initramfs(busybox, modules))
        versions = {"kernel_package": package, "boot": "vmlinux (PVH)" if (image / "vmlinux").exists() else "vmlinuz", "kernel_version": _deb_version(deb), "busybox-static": busybox_version,
                    "modules": " ".join(m.name for m in modules), "layout": str(LAYOUT),
                    "build_seconds": f"{time.monotonic() - started:.1f}"}
        (image / "versions.json").write_text(json.dumps(versions, indent=1))
        for path in image.iterdir():
            path.chmod(0o644)
        image.chmod(0o755)
        os.rename(image, folder)

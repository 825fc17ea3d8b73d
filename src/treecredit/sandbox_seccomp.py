"""(For :mod:`treecredit.sandbox`.) Python source that the sandboxed interpreter runs first: ``HARDEN``
(capabilities, ``no_new_privs``, non-dumpable, the seccomp filter built from ``SECCOMP_DENY``).

Text, not a function: it runs in the child interpreter (``python -I -B -c``) before any of the program's
code. See the module docstring of :mod:`treecredit.sandbox` for what it enforces.
"""

from __future__ import annotations

# Linux x86_64 / aarch64 system-call numbers the seccomp filter refuses (EPERM): new processes (fork, vfork,
# clone without CLONE_THREAD; clone3 answers ENOSYS so the C library falls back to clone), exec, reading or
# writing other processes' memory (ptrace, process_vm_readv/writev), leaving or changing the namespaces
# (mount, umount2, unshare, setns, pivot_root, chroot), process descriptors and thread signals that name
# no process of ours (tkill, pidfd_send_signal, pidfd_open, pidfd_getfd), the user's keyrings, shared with
# the caller (add_key, request_key, keyctl), sampling other processes (perf_event_open) and kernel programs
# (bpf). The fourth tuple: calls allowed
# only on this process (first argument 0 or its own pid): kill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo,
# prlimit64 (lowering another process's limits kills it), sched_setparam, sched_setscheduler,
# sched_setaffinity, sched_setattr, migrate_pages, move_pages (the caller moved to SCHED_IDLE or one CPU, or
# its memory to another node). The last: (call, kind) allowed only for that kind of target (first argument)
# and 0 or this process as the target (second argument): setpriority (PRIO_PROCESS, 0) and ioprio_set
# (IOPRIO_WHO_PROCESS, 1), so no renicing of the caller, its process group or every process of the user.
SECCOMP_DENY = {
    "x86_64": (0xC000003E, 56, (57, 58, 59, 322, 101, 310, 311, 165, 166, 272, 308, 155, 161, 200, 424, 434, 438,
                                248, 249, 250, 298, 321),
               (62, 234, 129, 297, 302, 142, 144, 203, 314, 256, 279), ((141, 0), (251, 1))),
    "aarch64": (0xC00000B7, 220, (221, 281, 117, 270, 271, 40, 39, 97, 268, 41, 51, 130, 424, 434, 438,
                                 217, 218, 219, 241, 280),
                (129, 131, 138, 240, 261, 118, 119, 122, 274, 238, 239), ((140, 0), (30, 1))),
}

HARDEN = r'''
def _harden(deny, root):
    import ctypes as ct
    libc = ct.CDLL(None, use_errno=True)
    if root:
        for cap in range(64):  # empty the bounding set: no exec can regain a capability
            if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP; fails past the last capability
                break

        class Header(ct.Structure):
            _fields_ = [("version", ct.c_uint32), ("pid", ct.c_int)]

        class Data(ct.Structure):
            _fields_ = [("effective", ct.c_uint32), ("permitted", ct.c_uint32), ("inheritable", ct.c_uint32)]

        if libc.capset(ct.byref(Header(0x20080522, 0)), (Data * 2)()) != 0:  # no capability left
            raise SystemExit("sandbox: could not drop capabilities")
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS (also what seccomp needs without privileges)
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no other process of this user may read our memory
    if deny is None:
        return
    arch, clone, refused, own, whose = deny
    me = __import__("os").getpid()
    LD, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
    ALLOW, EPERM, ENOSYS = 0x7FFF0000, 0x00050001, 0x00050026
    program = [(LD, 0, 0, 4), ("jne", arch, "eperm"), (LD, 0, 0, 0)]
    if arch == 0xC000003E:  # x32 system calls (bit 30) are another way in: refuse them all
        program.append(("jge", 0x40000000, "eperm"))
    program += [("jeq", 435, "enosys"), ("jeq", clone, "clone")] + [("jeq", n, "eperm") for n in refused]
    program += [("jeq", n, "own") for n in own] + [("jeq", n, f"kind{kind}") for n, kind in whose]
    program += [(RET, 0, 0, ALLOW), ("label", "clone"), (LD, 0, 0, 16), ("jset", 0x10000, "thread"),
                ("label", "eperm"), (RET, 0, 0, EPERM), ("label", "enosys"), (RET, 0, 0, ENOSYS),
                ("label", "thread"), (RET, 0, 0, ALLOW)]  # clone(CLONE_THREAD): a thread, allowed
    # setpriority, ioprio_set: the first argument is the kind of target (one process), the second its id
    for kind in sorted({kind for _, kind in whose}):
        program += [("label", f"kind{kind}"), (LD, 0, 0, 16), ("jeq", kind, f"who{kind}"), (RET, 0, 0, EPERM),
                    ("label", f"who{kind}"), (LD, 0, 0, 24), ("jeq", 0, "mine"), ("jeq", me, "mine"),
                    (RET, 0, 0, EPERM)]
    # kill, tgkill, ... : the first argument's low 32 bits (a pid_t) must be 0 or this process's pid
    program += [("label", "own"), (LD, 0, 0, 16), ("jeq", 0, "mine"), ("jeq", me, "mine"), (RET, 0, 0, EPERM),
                ("label", "mine"), (RET, 0, 0, ALLOW)]
    labels, plain = {}, []
    for item in program:
        if item[0] == "label":
            labels[item[1]] = len(plain)
        else:
            plain.append(item)
    codes = []
    for i, item in enumerate(plain):
        if isinstance(item[0], str):
            jump = labels[item[2]] - i - 1
            codes.append({"jeq": (JEQ, jump, 0), "jge": (JGE, jump, 0), "jset": (JSET, jump, 0),
                          "jne": (JEQ, 0, jump)}[item[0]] + (item[1],))
        else:
            codes.append(item)

    class Filter(ct.Structure):
        _fields_ = [("code", ct.c_ushort), ("jt", ct.c_ubyte), ("jf", ct.c_ubyte), ("k", ct.c_uint32)]

    class Program(ct.Structure):
        _fields_ = [("len", ct.c_ushort), ("filter", ct.POINTER(Filter))]

    table = (Filter * len(codes))(*[Filter(*c) for c in codes])
    if libc.prctl(22, 2, ct.byref(Program(len(codes), table)), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        raise SystemExit("sandbox: could not install the seccomp filter")


_harden({deny!r}, {root!r})
del _harden
'''

//! System call names to numbers, for each ABI a filter can see.
//!
//! The native tables come from the `libc::SYS_*` constants of the target (so
//! they cannot disagree with what the program itself calls), plus the few
//! numbers that libc 0.2 does not define yet. The i386 table (x86_64 hosts
//! only, for the `SCMP_ARCH_X86` section) is data taken from the kernel's
//! uapi `asm/unistd_32.h`; a test checks it against the installed header.
//! Every table is sorted by name (a test checks that too) and searched with
//! a binary search: a profile names a few hundred calls on every start.

/// `("name", number)` pairs from `libc::SYS_name` constants.
macro_rules! libc_table {
    ($table:ident: $($sys:ident)*) => {
        const $table: &[(&str, libc::c_long)] = &[$((stringify!($sys), libc::$sys)),*];
    };
}

/// `("name", number)` pairs from literal numbers (`tt` lets `break` be a name).
macro_rules! literal_table {
    ($table:ident: $($name:tt = $nr:literal),* $(,)?) => {
        const $table: &[(&str, u32)] = &[$((stringify!($name), $nr)),*];
    };
}

// Present in libc for both x86_64 and aarch64.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
libc_table!(LIBC_COMMON:
    SYS_accept SYS_accept4 SYS_acct SYS_add_key SYS_adjtimex SYS_bind SYS_bpf SYS_brk
    SYS_capget SYS_capset SYS_chdir SYS_chroot SYS_clock_adjtime SYS_clock_getres
    SYS_clock_gettime SYS_clock_nanosleep SYS_clock_settime SYS_clone SYS_clone3 SYS_close
    SYS_close_range SYS_connect SYS_copy_file_range SYS_delete_module SYS_dup SYS_dup3
    SYS_epoll_create1 SYS_epoll_ctl SYS_epoll_pwait SYS_epoll_pwait2 SYS_eventfd2 SYS_execve
    SYS_execveat SYS_exit SYS_exit_group SYS_faccessat SYS_faccessat2 SYS_fadvise64
    SYS_fallocate SYS_fanotify_init SYS_fanotify_mark SYS_fchdir SYS_fchmod SYS_fchmodat
    SYS_fchown SYS_fchownat SYS_fcntl SYS_fdatasync SYS_fgetxattr SYS_finit_module
    SYS_flistxattr SYS_flock SYS_fremovexattr SYS_fsconfig SYS_fsetxattr SYS_fsmount SYS_fsopen
    SYS_fspick SYS_fstat SYS_fstatfs SYS_fsync SYS_ftruncate SYS_futex SYS_futex_waitv
    SYS_get_mempolicy SYS_get_robust_list SYS_getcpu SYS_getcwd SYS_getdents64 SYS_getegid
    SYS_geteuid SYS_getgid SYS_getgroups SYS_getitimer SYS_getpeername SYS_getpgid SYS_getpid
    SYS_getppid SYS_getpriority SYS_getrandom SYS_getresgid SYS_getresuid SYS_getrlimit
    SYS_getrusage SYS_getsid SYS_getsockname SYS_getsockopt SYS_gettid SYS_gettimeofday
    SYS_getuid SYS_getxattr SYS_init_module SYS_inotify_add_watch SYS_inotify_init1
    SYS_inotify_rm_watch SYS_io_cancel SYS_io_destroy SYS_io_getevents SYS_io_setup
    SYS_io_submit SYS_io_uring_enter SYS_io_uring_register SYS_io_uring_setup SYS_ioctl
    SYS_ioprio_get SYS_ioprio_set SYS_kcmp SYS_kexec_file_load SYS_kexec_load SYS_keyctl
    SYS_kill SYS_landlock_add_rule SYS_landlock_create_ruleset SYS_landlock_restrict_self
    SYS_lgetxattr SYS_linkat SYS_listen SYS_listxattr SYS_llistxattr SYS_lookup_dcookie
    SYS_lremovexattr SYS_lseek SYS_lsetxattr SYS_madvise SYS_mbind SYS_membarrier
    SYS_memfd_create SYS_memfd_secret SYS_migrate_pages SYS_mincore SYS_mkdirat SYS_mknodat
    SYS_mlock SYS_mlock2 SYS_mlockall SYS_mmap SYS_mount SYS_mount_setattr SYS_move_mount
    SYS_move_pages SYS_mprotect SYS_mq_getsetattr SYS_mq_notify SYS_mq_open SYS_mq_timedreceive
    SYS_mq_timedsend SYS_mq_unlink SYS_mremap SYS_mseal SYS_msgctl SYS_msgget SYS_msgrcv
    SYS_msgsnd SYS_msync SYS_munlock SYS_munlockall SYS_munmap SYS_name_to_handle_at
    SYS_nanosleep SYS_newfstatat SYS_nfsservctl SYS_open_by_handle_at SYS_open_tree SYS_openat
    SYS_openat2 SYS_perf_event_open SYS_personality SYS_pidfd_getfd SYS_pidfd_open
    SYS_pidfd_send_signal SYS_pipe2 SYS_pivot_root SYS_pkey_alloc SYS_pkey_free
    SYS_pkey_mprotect SYS_ppoll SYS_prctl SYS_pread64 SYS_preadv SYS_preadv2 SYS_prlimit64
    SYS_process_madvise SYS_process_mrelease SYS_process_vm_readv SYS_process_vm_writev
    SYS_pselect6 SYS_ptrace SYS_pwrite64 SYS_pwritev SYS_pwritev2 SYS_quotactl SYS_quotactl_fd
    SYS_read SYS_readahead SYS_readlinkat SYS_readv SYS_reboot SYS_recvfrom SYS_recvmmsg
    SYS_recvmsg SYS_remap_file_pages SYS_removexattr SYS_renameat SYS_renameat2 SYS_request_key
    SYS_restart_syscall SYS_rseq SYS_rt_sigaction SYS_rt_sigpending SYS_rt_sigprocmask
    SYS_rt_sigqueueinfo SYS_rt_sigreturn SYS_rt_sigsuspend SYS_rt_sigtimedwait
    SYS_rt_tgsigqueueinfo SYS_sched_get_priority_max SYS_sched_get_priority_min
    SYS_sched_getaffinity SYS_sched_getattr SYS_sched_getparam SYS_sched_getscheduler
    SYS_sched_rr_get_interval SYS_sched_setaffinity SYS_sched_setattr SYS_sched_setparam
    SYS_sched_setscheduler SYS_sched_yield SYS_seccomp SYS_semctl SYS_semget SYS_semop
    SYS_semtimedop SYS_sendfile SYS_sendmmsg SYS_sendmsg SYS_sendto SYS_set_mempolicy
    SYS_set_mempolicy_home_node SYS_set_robust_list SYS_set_tid_address SYS_setdomainname
    SYS_setfsgid SYS_setfsuid SYS_setgid SYS_setgroups SYS_sethostname SYS_setitimer SYS_setns
    SYS_setpgid SYS_setpriority SYS_setregid SYS_setresgid SYS_setresuid SYS_setreuid
    SYS_setrlimit SYS_setsid SYS_setsockopt SYS_settimeofday SYS_setuid SYS_setxattr SYS_shmat
    SYS_shmctl SYS_shmdt SYS_shmget SYS_shutdown SYS_sigaltstack SYS_signalfd4 SYS_socket
    SYS_socketpair SYS_splice SYS_statfs SYS_statx SYS_swapoff SYS_swapon SYS_symlinkat
    SYS_sync SYS_sync_file_range SYS_syncfs SYS_sysinfo SYS_syslog SYS_tee SYS_tgkill
    SYS_timer_create SYS_timer_delete SYS_timer_getoverrun SYS_timer_gettime SYS_timer_settime
    SYS_timerfd_create SYS_timerfd_gettime SYS_timerfd_settime SYS_times SYS_tkill SYS_truncate
    SYS_umask SYS_umount2 SYS_uname SYS_unlinkat SYS_unshare SYS_userfaultfd SYS_utimensat
    SYS_vhangup SYS_vmsplice SYS_wait4 SYS_waitid SYS_write SYS_writev
);

// Present in libc for x86_64 only (the legacy calls asm-generic dropped).
#[cfg(target_arch = "x86_64")]
libc_table!(LIBC_ARCH:
    SYS__sysctl SYS_access SYS_afs_syscall SYS_alarm SYS_arch_prctl SYS_chmod SYS_chown
    SYS_creat SYS_dup2 SYS_epoll_create SYS_epoll_ctl_old SYS_epoll_wait SYS_epoll_wait_old
    SYS_eventfd SYS_fchmodat2 SYS_fork SYS_futimesat SYS_get_thread_area SYS_getdents
    SYS_getpgrp SYS_getpmsg SYS_inotify_init SYS_ioperm SYS_iopl SYS_lchown SYS_link SYS_lstat
    SYS_mkdir SYS_mknod SYS_modify_ldt SYS_open SYS_pause SYS_pipe SYS_poll SYS_putpmsg
    SYS_readlink SYS_rename SYS_rmdir SYS_security SYS_select SYS_set_thread_area SYS_signalfd
    SYS_stat SYS_symlink SYS_sysfs SYS_time SYS_tuxcall SYS_unlink SYS_uselib SYS_ustat
    SYS_utime SYS_utimes SYS_vfork SYS_vserver
);

#[cfg(target_arch = "aarch64")]
const LIBC_ARCH: &[(&str, libc::c_long)] = &[];

// Numbered per architecture, missing from libc 0.2.
#[cfg(target_arch = "x86_64")]
literal_table!(EXTRA_ARCH: io_pgetevents = 333);
#[cfg(target_arch = "aarch64")]
literal_table!(EXTRA_ARCH: io_pgetevents = 292);

// Since Linux 5.1 new system calls get one number on every architecture
// (424 and up); these are the ones libc 0.2 lacks on some target. A name an
// architecture does not implement returns ENOSYS there, so listing it is
// harmless.
literal_table!(UNIFIED:
    cachestat = 451, fchmodat2 = 452, futex_requeue = 456, futex_wait = 455,
    futex_wake = 454, getxattrat = 464, listmount = 458, listxattrat = 465,
    lsm_get_self_attr = 459, lsm_list_modules = 461, lsm_set_self_attr = 460,
    map_shadow_stack = 453, mseal = 462, open_tree_attr = 467, removexattrat = 466,
    setxattrat = 463, statmount = 457,
);

// x32 system calls with numbers of their own (the X32 bit not included): the
// x86_64 numbers of these calls take 64-bit structures and are not valid
// for x32 callers.
#[cfg(target_arch = "x86_64")]
literal_table!(X32_SPECIFIC:
    execve = 520, execveat = 545, get_robust_list = 531, getsockopt = 542, io_setup = 543,
    io_submit = 544, ioctl = 514, kexec_load = 528, move_pages = 533, mq_notify = 527,
    preadv = 534, preadv2 = 546, process_vm_readv = 539, process_vm_writev = 540,
    ptrace = 521, pwritev = 535, pwritev2 = 547, readv = 515, recvfrom = 517,
    recvmmsg = 537, recvmsg = 519, rt_sigaction = 512, rt_sigpending = 522,
    rt_sigqueueinfo = 524, rt_sigreturn = 513, rt_sigtimedwait = 523,
    rt_tgsigqueueinfo = 536, sendmmsg = 538, sendmsg = 518, set_robust_list = 530,
    setsockopt = 541, sigaltstack = 525, timer_create = 526, vmsplice = 532,
    waitid = 529, writev = 516,
);

// i386 (int 0x80 and 32-bit processes on an x86_64 kernel).
#[cfg(target_arch = "x86_64")]
literal_table!(I386:
    _llseek = 140, _newselect = 142, _sysctl = 149, accept4 = 364, access = 33, acct = 51,
    add_key = 286, adjtimex = 124, afs_syscall = 137, alarm = 27, arch_prctl = 384,
    bdflush = 134, bind = 361, bpf = 357, break = 17, brk = 45, capget = 184, capset = 185,
    chdir = 12, chmod = 15, chown = 182, chown32 = 212, chroot = 61, clock_adjtime = 343,
    clock_adjtime64 = 405, clock_getres = 266, clock_getres_time64 = 406, clock_gettime = 265,
    clock_gettime64 = 403, clock_nanosleep = 267, clock_nanosleep_time64 = 407,
    clock_settime = 264, clock_settime64 = 404, clone = 120, clone3 = 435, close = 6,
    close_range = 436, connect = 362, copy_file_range = 377, creat = 8, create_module = 127,
    delete_module = 129, dup = 41, dup2 = 63, dup3 = 330, epoll_create = 254,
    epoll_create1 = 329, epoll_ctl = 255, epoll_pwait = 319, epoll_pwait2 = 441,
    epoll_wait = 256, eventfd = 323, eventfd2 = 328, execve = 11, execveat = 358, exit = 1,
    exit_group = 252, faccessat = 307, faccessat2 = 439, fadvise64 = 250, fadvise64_64 = 272,
    fallocate = 324, fanotify_init = 338, fanotify_mark = 339, fchdir = 133, fchmod = 94,
    fchmodat = 306, fchown = 95, fchown32 = 207, fchownat = 298, fcntl = 55, fcntl64 = 221,
    fdatasync = 148, fgetxattr = 231, finit_module = 350, flistxattr = 234, flock = 143,
    fork = 2, fremovexattr = 237, fsconfig = 431, fsetxattr = 228, fsmount = 432, fsopen = 430,
    fspick = 433, fstat = 108, fstat64 = 197, fstatat64 = 300, fstatfs = 100, fstatfs64 = 269,
    fsync = 118, ftime = 35, ftruncate = 93, ftruncate64 = 194, futex = 240,
    futex_time64 = 422, futex_waitv = 449, futimesat = 299, get_kernel_syms = 130,
    get_mempolicy = 275, get_robust_list = 312, get_thread_area = 244, getcpu = 318,
    getcwd = 183, getdents = 141, getdents64 = 220, getegid = 50, getegid32 = 202,
    geteuid = 49, geteuid32 = 201, getgid = 47, getgid32 = 200, getgroups = 80,
    getgroups32 = 205, getitimer = 105, getpeername = 368, getpgid = 132, getpgrp = 65,
    getpid = 20, getpmsg = 188, getppid = 64, getpriority = 96, getrandom = 355,
    getresgid = 171, getresgid32 = 211, getresuid = 165, getresuid32 = 209, getrlimit = 76,
    getrusage = 77, getsid = 147, getsockname = 367, getsockopt = 365, gettid = 224,
    gettimeofday = 78, getuid = 24, getuid32 = 199, getxattr = 229, gtty = 32, idle = 112,
    init_module = 128, inotify_add_watch = 292, inotify_init = 291, inotify_init1 = 332,
    inotify_rm_watch = 293, io_cancel = 249, io_destroy = 246, io_getevents = 247,
    io_pgetevents = 385, io_pgetevents_time64 = 416, io_setup = 245, io_submit = 248,
    io_uring_enter = 426, io_uring_register = 427, io_uring_setup = 425, ioctl = 54,
    ioperm = 101, iopl = 110, ioprio_get = 290, ioprio_set = 289, ipc = 117, kcmp = 349,
    kexec_load = 283, keyctl = 288, kill = 37, landlock_add_rule = 445,
    landlock_create_ruleset = 444, landlock_restrict_self = 446, lchown = 16, lchown32 = 198,
    lgetxattr = 230, link = 9, linkat = 303, listen = 363, listxattr = 232, llistxattr = 233,
    lock = 53, lookup_dcookie = 253, lremovexattr = 236, lseek = 19, lsetxattr = 227,
    lstat = 107, lstat64 = 196, madvise = 219, mbind = 274, membarrier = 375,
    memfd_create = 356, memfd_secret = 447, migrate_pages = 294, mincore = 218, mkdir = 39,
    mkdirat = 296, mknod = 14, mknodat = 297, mlock = 150, mlock2 = 376, mlockall = 152,
    mmap = 90, mmap2 = 192, modify_ldt = 123, mount = 21, mount_setattr = 442,
    move_mount = 429, move_pages = 317, mprotect = 125, mpx = 56, mq_getsetattr = 282,
    mq_notify = 281, mq_open = 277, mq_timedreceive = 280, mq_timedreceive_time64 = 419,
    mq_timedsend = 279, mq_timedsend_time64 = 418, mq_unlink = 278, mremap = 163, msgctl = 402,
    msgget = 399, msgrcv = 401, msgsnd = 400, msync = 144, munlock = 151, munlockall = 153,
    munmap = 91, name_to_handle_at = 341, nanosleep = 162, nfsservctl = 169, nice = 34,
    oldfstat = 28, oldlstat = 84, oldolduname = 59, oldstat = 18, olduname = 109, open = 5,
    open_by_handle_at = 342, open_tree = 428, openat = 295, openat2 = 437, pause = 29,
    perf_event_open = 336, personality = 136, pidfd_getfd = 438, pidfd_open = 434,
    pidfd_send_signal = 424, pipe = 42, pipe2 = 331, pivot_root = 217, pkey_alloc = 381,
    pkey_free = 382, pkey_mprotect = 380, poll = 168, ppoll = 309, ppoll_time64 = 414,
    prctl = 172, pread64 = 180, preadv = 333, preadv2 = 378, prlimit64 = 340,
    process_madvise = 440, process_mrelease = 448, process_vm_readv = 347,
    process_vm_writev = 348, prof = 44, profil = 98, pselect6 = 308, pselect6_time64 = 413,
    ptrace = 26, putpmsg = 189, pwrite64 = 181, pwritev = 334, pwritev2 = 379,
    query_module = 167, quotactl = 131, quotactl_fd = 443, read = 3, readahead = 225,
    readdir = 89, readlink = 85, readlinkat = 305, readv = 145, reboot = 88, recvfrom = 371,
    recvmmsg = 337, recvmmsg_time64 = 417, recvmsg = 372, remap_file_pages = 257,
    removexattr = 235, rename = 38, renameat = 302, renameat2 = 353, request_key = 287,
    restart_syscall = 0, rmdir = 40, rseq = 386, rt_sigaction = 174, rt_sigpending = 176,
    rt_sigprocmask = 175, rt_sigqueueinfo = 178, rt_sigreturn = 173, rt_sigsuspend = 179,
    rt_sigtimedwait = 177, rt_sigtimedwait_time64 = 421, rt_tgsigqueueinfo = 335,
    sched_get_priority_max = 159, sched_get_priority_min = 160, sched_getaffinity = 242,
    sched_getattr = 352, sched_getparam = 155, sched_getscheduler = 157,
    sched_rr_get_interval = 161, sched_rr_get_interval_time64 = 423, sched_setaffinity = 241,
    sched_setattr = 351, sched_setparam = 154, sched_setscheduler = 156, sched_yield = 158,
    seccomp = 354, select = 82, semctl = 394, semget = 393, semtimedop_time64 = 420,
    sendfile = 187, sendfile64 = 239, sendmmsg = 345, sendmsg = 370, sendto = 369,
    set_mempolicy = 276, set_mempolicy_home_node = 450, set_robust_list = 311,
    set_thread_area = 243, set_tid_address = 258, setdomainname = 121, setfsgid = 139,
    setfsgid32 = 216, setfsuid = 138, setfsuid32 = 215, setgid = 46, setgid32 = 214,
    setgroups = 81, setgroups32 = 206, sethostname = 74, setitimer = 104, setns = 346,
    setpgid = 57, setpriority = 97, setregid = 71, setregid32 = 204, setresgid = 170,
    setresgid32 = 210, setresuid = 164, setresuid32 = 208, setreuid = 70, setreuid32 = 203,
    setrlimit = 75, setsid = 66, setsockopt = 366, settimeofday = 79, setuid = 23,
    setuid32 = 213, setxattr = 226, sgetmask = 68, shmat = 397, shmctl = 396, shmdt = 398,
    shmget = 395, shutdown = 373, sigaction = 67, sigaltstack = 186, signal = 48,
    signalfd = 321, signalfd4 = 327, sigpending = 73, sigprocmask = 126, sigreturn = 119,
    sigsuspend = 72, socket = 359, socketcall = 102, socketpair = 360, splice = 313,
    ssetmask = 69, stat = 106, stat64 = 195, statfs = 99, statfs64 = 268, statx = 383,
    stime = 25, stty = 31, swapoff = 115, swapon = 87, symlink = 83, symlinkat = 304,
    sync = 36, sync_file_range = 314, syncfs = 344, sysfs = 135, sysinfo = 116, syslog = 103,
    tee = 315, tgkill = 270, time = 13, timer_create = 259, timer_delete = 263,
    timer_getoverrun = 262, timer_gettime = 261, timer_gettime64 = 408, timer_settime = 260,
    timer_settime64 = 409, timerfd_create = 322, timerfd_gettime = 326,
    timerfd_gettime64 = 410, timerfd_settime = 325, timerfd_settime64 = 411, times = 43,
    tkill = 238, truncate = 92, truncate64 = 193, ugetrlimit = 191, ulimit = 58, umask = 60,
    umount = 22, umount2 = 52, uname = 122, unlink = 10, unlinkat = 301, unshare = 310,
    uselib = 86, userfaultfd = 374, ustat = 62, utime = 30, utimensat = 320,
    utimensat_time64 = 412, utimes = 271, vfork = 190, vhangup = 111, vm86 = 166,
    vm86old = 113, vmsplice = 316, vserver = 273, wait4 = 114, waitid = 284, waitpid = 7,
    write = 4, writev = 146,
);

fn find<N: Copy>(table: &[(&str, N)], name: &str) -> Option<N> {
    table
        .binary_search_by(|(entry, _)| (*entry).cmp(name))
        .ok()
        .map(|i| table[i].1)
}

/// `find` in a table of `SYS_name` entries.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn find_libc(table: &[(&str, libc::c_long)], name: &str) -> Option<u32> {
    // Compared with the prefix in place: no slicing in the search loop.
    let mut buf = [0u8; 64];
    let prefixed = buf.get_mut(..name.len() + 4)?;
    prefixed[..4].copy_from_slice(b"SYS_");
    prefixed[4..].copy_from_slice(name.as_bytes());
    let prefixed = std::str::from_utf8(prefixed).ok()?;
    find(table, prefixed).and_then(|nr| u32::try_from(nr).ok())
}

/// The number of `name` in the native ABI (x86_64 or aarch64).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(super) fn native(name: &str) -> Option<u32> {
    find_libc(LIBC_COMMON, name)
        .or_else(|| find_libc(LIBC_ARCH, name))
        .or_else(|| find(EXTRA_ARCH, name))
        .or_else(|| find(UNIFIED, name))
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(super) fn native(_name: &str) -> Option<u32> {
    None
}

/// The x32-only number of `name` (without the X32 bit), for the calls x32
/// does not share with x86_64.
#[cfg(target_arch = "x86_64")]
pub(super) fn x32_specific(name: &str) -> Option<u32> {
    find(X32_SPECIFIC, name)
}

/// The number of `name` for i386 callers.
#[cfg(target_arch = "x86_64")]
pub(super) fn i386(name: &str) -> Option<u32> {
    find(I386, name).or_else(|| find(UNIFIED, name))
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) fn x32_specific(_name: &str) -> Option<u32> {
    None
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) fn i386(_name: &str) -> Option<u32> {
    None
}

#[cfg(test)]
pub(super) fn assert_sorted() {
    fn check<N>(table: &[(&str, N)]) {
        let names: Vec<_> = table
            .iter()
            .map(|(n, _)| n.strip_prefix("SYS_").unwrap_or(n))
            .collect();
        for pair in names.windows(2) {
            assert!(pair[0] < pair[1], "{} before {}", pair[0], pair[1]);
        }
    }
    check(LIBC_COMMON);
    check(LIBC_ARCH);
    check(EXTRA_ARCH);
    check(UNIFIED);
    #[cfg(target_arch = "x86_64")]
    {
        check(X32_SPECIFIC);
        check(I386);
    }
}

/// Every name of the native tables, in table order.
#[cfg(test)]
pub(super) fn native_names() -> Vec<&'static str> {
    LIBC_COMMON
        .iter()
        .chain(LIBC_ARCH)
        .map(|(n, _)| n.strip_prefix("SYS_").unwrap_or(n))
        .collect()
}

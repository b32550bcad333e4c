//! The meaning of every system call, keyed by the arch-neutral [`Sysno`]. The arch code has
//! already turned (number, registers) into (`Sysno`, six arguments); this module only knows Linux
//! semantics. Unimplemented and unknown calls return `-ENOSYS`, each reported once.

mod fs;
mod futex;
mod memory;
pub mod path;
mod process;
mod stat;
/// Flag sets callers (and tests) use.
pub mod process_flags {
    use super::process::*;
    /// What pthread_create passes (musl and glibc alike).
    pub const THREAD_FLAGS: u64 = CLONE_VM
        | CLONE_FS
        | CLONE_FILES
        | CLONE_SIGHAND
        | CLONE_THREAD
        | CLONE_SYSVSEM
        | CLONE_SETTLS
        | CLONE_PARENT_SETTID
        | CLONE_CHILD_CLEARTID
        | CLONE_CHILD_SETTID;
}
mod signal;
pub mod system;
mod time;

use crate::errno::{Errno, SysResult};
use crate::task::{Kernel, Tid};

/// AT_FDCWD as a register value.
const AT_FDCWD: u64 = path::AT_FDCWD as i64 as u64;
use hal::arch::Arch;
use hal::syscall::Sysno;
use hal::user::UserContext;

/// What the thread does after its system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Resume it with this value in the result register.
    Return(u64),
    /// Nothing to store: the thread was parked (its waker stores the result), its registers were
    /// replaced (execve, rt_sigreturn), or it no longer exists (exit).
    Done,
}

fn ret(result: SysResult) -> Outcome {
    Outcome::Return(match result {
        Ok(v) => v,
        Err(e) => e.as_return(),
    })
}

/// Handles the system call `tid` just made and stores its result.
pub fn handle<A: Arch>(k: &mut Kernel<A>, tid: Tid) {
    let t = &k.threads[&tid];
    let (number, args) = (t.context.syscall_number(), t.context.syscall_args());
    if let Some(value) = call(k, tid, number, args)
        && let Some(t) = k.threads.get_mut(&tid)
    {
        t.context.set_syscall_return(value);
    }
}

/// At most this many distinct unimplemented or unknown numbers are logged, and remembered: a
/// program cycling through random numbers must neither grow the kernel's memory nor flood the
/// console.
pub const MAX_REPORTED: usize = 64;

/// Runs system call `number` with `args` for `tid`; returns the value the call returns now, if
/// it does (the caller puts it into the thread's context), or `None` when the call parked the
/// thread, replaced its context (execve, sigreturn) or ended it.
pub fn call<A: Arch>(k: &mut Kernel<A>, tid: Tid, number: u64, args: [u64; 6]) -> Option<u64> {
    // Linux reads the number as an int on both arches (x86_64's do_syscall_64, arm64's
    // el0_svc_common): the upper half of the register is not part of it.
    let number = number as u32 as u64;
    let sysno = A::sysno(number);
    let outcome = match sysno.and_then(|s| dispatch(k, tid, s, args)) {
        Some(outcome) => outcome,
        None => {
            if k.reported.len() < MAX_REPORTED && k.reported.insert(number) {
                let p = k.process_of(tid);
                match sysno {
                    Some(s) => log::warn!(
                        "pid {} ({}): syscall {} ({number}) is not implemented yet, returning -ENOSYS",
                        p.pid,
                        p.name,
                        s.name()
                    ),
                    None => log::warn!(
                        "pid {} ({}): unknown syscall number {number}, returning -ENOSYS",
                        p.pid,
                        p.name
                    ),
                }
                if k.reported.len() == MAX_REPORTED {
                    log::warn!(
                        "{MAX_REPORTED} unsupported syscall numbers logged; no more will be"
                    );
                }
            }
            Outcome::Return(Errno::ENOSYS.as_return())
        }
    };
    match outcome {
        Outcome::Return(value) => Some(value),
        _ => None,
    }
}

/// One line per supported call. `None`: Linux has the call but Cyphera does not implement it yet.
pub fn dispatch<A: Arch>(
    k: &mut Kernel<A>,
    tid: Tid,
    sysno: Sysno,
    a: [u64; 6],
) -> Option<Outcome> {
    use Sysno as S;
    Some(match sysno {
        // files: descriptors, the console, pipes, poll/select, epoll, eventfd
        S::Read => fs::read(k, tid, a[0], a[1], a[2]),
        S::Write => fs::write(k, tid, a[0], a[1], a[2]),
        S::Readv => fs::readv(k, tid, a[0], a[1], a[2]),
        S::Writev => fs::writev(k, tid, a[0], a[1], a[2]),
        S::Pread64 => ret(fs::pread_pwrite(
            k,
            tid,
            a[0],
            (a[1], a[2], false),
            a[3],
            false,
        )),
        S::Pwrite64 => ret(fs::pread_pwrite(
            k,
            tid,
            a[0],
            (a[1], a[2], false),
            a[3],
            true,
        )),
        S::Preadv => ret(fs::pread_pwrite(
            k,
            tid,
            a[0],
            (a[1], a[2], true),
            a[3],
            false,
        )),
        S::Pwritev => ret(fs::pread_pwrite(
            k,
            tid,
            a[0],
            (a[1], a[2], true),
            a[3],
            true,
        )),
        S::Preadv2 | S::Pwritev2 => {
            let write = sysno == S::Pwritev2;
            // An offset of -1 means "the file position": the plain vector calls.
            if a[3] as i64 == -1 {
                if write {
                    fs::writev(k, tid, a[0], a[1], a[2])
                } else {
                    fs::readv(k, tid, a[0], a[1], a[2])
                }
            } else {
                ret(fs::pread_pwrite(
                    k,
                    tid,
                    a[0],
                    (a[1], a[2], true),
                    a[3],
                    write,
                ))
            }
        }
        S::Close => ret(fs::close(k, tid, a[0])),
        S::Dup => ret(fs::dup(k, tid, a[0])),
        S::Dup2 => ret(fs::dup2(k, tid, a[0], a[1])),
        S::Dup3 => ret(fs::dup3(k, tid, a[0], a[1], a[2])),
        S::Fcntl => ret(fs::fcntl(k, tid, a[0], a[1], a[2])),
        S::Ioctl => fs::ioctl(k, tid, a[0], a[1], a[2]),
        S::Lseek => ret(fs::lseek(k, tid, a[0], a[1], a[2])),
        S::Pipe => ret(fs::pipe2(k, tid, a[0], 0)),
        S::Pipe2 => ret(fs::pipe2(k, tid, a[0], a[1])),
        S::Poll => fs::poll(k, tid, a[0], a[1], a[2]),
        S::Ppoll => fs::ppoll(k, tid, a),
        S::Select => fs::select(k, tid, a),
        S::Pselect6 => fs::pselect6(k, tid, a),
        S::EpollCreate => ret(fs::epoll_create(k, tid, a[0])),
        S::EpollCreate1 => ret(fs::epoll_create1(k, tid, a[0])),
        S::EpollCtl => ret(fs::epoll_ctl(k, tid, a[0], a[1], a[2], a[3])),
        S::EpollWait => fs::epoll_pwait(k, tid, [a[0], a[1], a[2], a[3], 0, 0]),
        S::EpollPwait => fs::epoll_pwait(k, tid, a),
        S::EpollPwait2 => fs::epoll_pwait2(k, tid, a),
        S::Eventfd => ret(fs::eventfd2(k, tid, a[0], 0)),
        S::Eventfd2 => ret(fs::eventfd2(k, tid, a[0], a[1])),
        S::Sendfile => fs::sendfile(k, tid, a[0], a[1], a[2], a[3]),
        S::CopyFileRange => ret(fs::copy_file_range(k, tid, a)),
        // files by path (the x86_64-only legacy forms are the *at calls at AT_FDCWD)
        S::Openat => ret(path::openat(k, tid, a[0], a[1], a[2], a[3])),
        S::Open => ret(path::open(k, tid, a[0], a[1], a[2])),
        S::Creat => ret(path::creat(k, tid, a[0], a[1])),
        S::Newfstatat => ret(path::newfstatat(k, tid, a[0], a[1], a[2], a[3])),
        S::Fstat => ret(path::fstat(k, tid, a[0], a[1])),
        S::Stat => ret(path::stat_legacy(k, tid, a[0], a[1], true)),
        S::Lstat => ret(path::stat_legacy(k, tid, a[0], a[1], false)),
        S::Statx => ret(path::statx(k, tid, a)),
        S::Statfs => ret(path::statfs(k, tid, a[0], a[1])),
        S::Fstatfs => ret(path::fstatfs(k, tid, a[0], a[1])),
        S::Mkdirat => ret(path::mkdirat(k, tid, a[0], a[1], a[2])),
        S::Mkdir => ret(path::mkdirat(k, tid, AT_FDCWD, a[0], a[1])),
        S::Mknodat => ret(path::mknodat(k, tid, a[0], a[1], a[2], a[3])),
        S::Mknod => ret(path::mknodat(k, tid, AT_FDCWD, a[0], a[1], a[2])),
        S::Unlinkat => ret(path::unlinkat(k, tid, a[0], a[1], a[2])),
        S::Unlink => ret(path::unlinkat(k, tid, AT_FDCWD, a[0], 0)),
        S::Rmdir => ret(path::unlinkat(k, tid, AT_FDCWD, a[0], 0x200)),
        S::Renameat2 => ret(path::renameat2(k, tid, a)),
        S::Renameat => ret(path::renameat2(k, tid, [a[0], a[1], a[2], a[3], 0, 0])),
        S::Rename => ret(path::renameat2(
            k,
            tid,
            [AT_FDCWD, a[0], AT_FDCWD, a[1], 0, 0],
        )),
        S::Linkat => ret(path::linkat(k, tid, a)),
        S::Link => ret(path::linkat(k, tid, [AT_FDCWD, a[0], AT_FDCWD, a[1], 0, 0])),
        S::Symlinkat => ret(path::symlinkat(k, tid, a[0], a[1], a[2])),
        S::Symlink => ret(path::symlinkat(k, tid, a[0], AT_FDCWD, a[1])),
        S::Readlinkat => ret(path::readlinkat(k, tid, a[0], a[1], a[2], a[3])),
        S::Readlink => ret(path::readlinkat(k, tid, AT_FDCWD, a[0], a[1], a[2])),
        S::Faccessat => ret(path::faccessat2(k, tid, a[0], a[1], a[2], 0)),
        S::Faccessat2 => ret(path::faccessat2(k, tid, a[0], a[1], a[2], a[3])),
        S::Access => ret(path::faccessat2(k, tid, AT_FDCWD, a[0], a[1], 0)),
        S::Fchmod => ret(path::fchmod(k, tid, a[0], a[1])),
        S::Fchmodat => ret(path::fchmodat(k, tid, a[0], a[1], a[2], 0)),
        S::Fchmodat2 => ret(path::fchmodat(k, tid, a[0], a[1], a[2], a[3])),
        S::Chmod => ret(path::fchmodat(k, tid, AT_FDCWD, a[0], a[1], 0)),
        S::Fchown => ret(path::fchown(k, tid, a[0], a[1], a[2])),
        S::Fchownat => ret(path::fchownat(k, tid, a)),
        S::Chown => ret(path::fchownat(k, tid, [AT_FDCWD, a[0], a[1], a[2], 0, 0])),
        S::Lchown => ret(path::fchownat(
            k,
            tid,
            [AT_FDCWD, a[0], a[1], a[2], 0x100, 0],
        )),
        S::Utimensat => ret(path::utimensat(k, tid, a)),
        S::Utimes => ret(path::utimes_legacy(k, tid, AT_FDCWD, a[0], a[1], false)),
        S::Futimesat => ret(path::utimes_legacy(k, tid, a[0], a[1], a[2], false)),
        S::Utime => ret(path::utimes_legacy(k, tid, AT_FDCWD, a[0], a[1], true)),
        S::Truncate => ret(path::truncate(k, tid, a[0], a[1])),
        S::Ftruncate => ret(path::ftruncate(k, tid, a[0], a[1])),
        // Everything is in memory: there is nothing to write back.
        S::Fsync | S::Fdatasync | S::Syncfs => ret(fs::fd_exists(k, tid, a[0])),
        S::Sync => ret(Ok(0)),
        S::Fadvise64 | S::Readahead => ret(fs::fd_exists(k, tid, a[0])),
        S::Flock => ret(fs::flock(k, tid, a[0], a[1])),
        S::Chdir => ret(path::chdir(k, tid, a[0])),
        S::Fchdir => ret(path::fchdir(k, tid, a[0])),
        S::Chroot => ret(path::chroot(k, tid, a[0])),
        S::Getcwd => ret(path::getcwd(k, tid, a[0], a[1])),
        S::Umask => ret(path::umask(k, tid, a[0])),
        S::Getdents64 => ret(path::getdents(k, tid, a[0], a[1], a[2], false)),
        S::Getdents => ret(path::getdents(k, tid, a[0], a[1], a[2], true)),
        S::Mount => ret(path::mount(k, tid, a)),
        S::Umount2 => ret(path::umount2(k, tid, a[0], a[1])),
        S::Reboot => ret(system::reboot(k, tid, a[0], a[1], a[2])),
        // processes and threads
        S::Exit => process::exit(k, tid, a[0]),
        S::ExitGroup => process::exit_group(k, tid, a[0]),
        S::Getpid => ret(Ok(k.threads[&tid].pid as u64)),
        S::Gettid => ret(Ok(tid as u64)),
        S::Getppid => ret(Ok(process::parent(k, tid))),
        S::SetTidAddress => ret(process::set_tid_address(k, tid, a[0])),
        S::SetRobustList => ret(process::set_robust_list(k, tid, a[0], a[1])),
        S::GetRobustList => ret(process::get_robust_list(k, tid, a[0], a[1], a[2])),
        S::Clone => process::clone(k, tid, A::clone_args(a)),
        S::Clone3 => process::clone3(k, tid, a[0], a[1]),
        S::Fork => process::clone(
            k,
            tid,
            hal::user::CloneArgs {
                flags: crate::signal::SIGCHLD as u64,
                ..Default::default()
            },
        ),
        S::Vfork => process::clone(
            k,
            tid,
            hal::user::CloneArgs {
                flags: process::CLONE_VM | process::CLONE_VFORK | crate::signal::SIGCHLD as u64,
                ..Default::default()
            },
        ),
        S::Execve => process::execve(k, tid, a[0], a[1], a[2]),
        S::Wait4 => process::wait4(k, tid, a[0] as i64 as i32, a[1], a[2], a[3]),
        S::Waitid => process::waitid(k, tid, a[0], a[1], a[2], a[3], a[4]),
        S::Getpgid => ret(process::getpgid(k, tid, a[0])),
        S::Getpgrp => ret(process::getpgid(k, tid, 0)),
        S::Setpgid => ret(process::setpgid(k, tid, a[0], a[1])),
        S::Getsid => ret(process::getsid(k, tid, a[0])),
        S::Setsid => ret(process::setsid(k, tid)),
        S::Prlimit64 => ret(process::prlimit(k, tid, a[0], a[1], a[2], a[3])),
        S::Getrlimit => ret(process::prlimit(k, tid, 0, a[0], 0, a[1])),
        S::Setrlimit => ret(process::prlimit(k, tid, 0, a[0], a[1], 0)),
        S::Getuid | S::Geteuid | S::Getgid | S::Getegid => ret(Ok(0)),
        S::Getresuid | S::Getresgid => ret(process::getres_ids(k, tid, [a[0], a[1], a[2]])),
        // No supplementary groups; a negative size is EINVAL.
        S::Getgroups => ret(if (a[0] as i32) < 0 {
            Err(Errno::EINVAL)
        } else {
            Ok(0)
        }),
        S::SchedYield => process::sched_yield(k, tid),
        S::SchedGetaffinity => ret(process::sched_getaffinity(k, tid, a[0], a[1], a[2])),
        S::SchedSetaffinity => ret(process::sched_setaffinity(k, tid, a[0], a[1], a[2])),
        S::ArchPrctl => ret(process::arch_prctl(k, tid, a[0], a[1])),
        S::Prctl => ret(process::prctl(k, tid, a[0], a[1])),
        S::Getrandom => ret(system::getrandom(k, tid, a[0], a[1], a[2])),
        S::Uname => ret(system::uname(k, tid, a[0])),
        S::Sethostname => ret(system::set_name(k, tid, a[0], a[1], false)),
        S::Setdomainname => ret(system::set_name(k, tid, a[0], a[1], true)),
        S::Futex => futex::futex(k, tid, a),
        // memory
        S::Brk => ret(memory::brk(k, tid, a[0])),
        S::Mmap => ret(memory::mmap(k, tid, a)),
        S::Munmap => ret(memory::munmap(k, tid, a[0], a[1])),
        S::Mprotect => ret(memory::mprotect(k, tid, a[0], a[1], a[2])),
        S::Mremap => ret(memory::mremap(k, tid, a)),
        S::Madvise => ret(memory::madvise(k, tid, a[0], a[1], a[2])),
        S::Msync => ret(memory::msync(k, tid, a[0], a[1], a[2])),
        S::Mincore => ret(memory::mincore(k, tid, a[0], a[1], a[2])),
        // signals
        S::RtSigaction => ret(signal::rt_sigaction(k, tid, a[0], a[1], a[2], a[3])),
        S::RtSigprocmask => ret(signal::rt_sigprocmask(k, tid, a[0], a[1], a[2], a[3])),
        S::RtSigpending => ret(signal::rt_sigpending(k, tid, a[0], a[1])),
        S::RtSigsuspend => signal::rt_sigsuspend(k, tid, a[0], a[1]),
        S::Pause => signal::pause(k, tid),
        S::RtSigtimedwait => signal::rt_sigtimedwait(k, tid, a[0], a[1], a[2], a[3]),
        S::Sigaltstack => ret(signal::sigaltstack(k, tid, a[0], a[1])),
        S::Kill => ret(signal::kill(k, tid, a[0] as i64 as i32, a[1])),
        S::Tkill => ret(signal::tgkill(k, tid, None, a[0], a[1])),
        S::Tgkill => ret(signal::tgkill(k, tid, Some(a[0]), a[1], a[2])),
        S::RtSigreturn => signal::rt_sigreturn(k, tid),
        // time
        S::ClockGettime => ret(time::clock_gettime(k, tid, a[0], a[1])),
        S::ClockGetres => ret(time::clock_getres(k, tid, a[0], a[1])),
        S::Gettimeofday => ret(time::gettimeofday(k, tid, a[0], a[1])),
        S::Time => ret(time::time(k, tid, a[0])),
        S::Nanosleep => time::nanosleep(k, tid, time::CLOCK_MONOTONIC_FOR_SLEEP, 0, a[0], a[1]),
        S::ClockNanosleep => time::nanosleep(k, tid, a[0], a[1], a[2], a[3]),
        S::Times => ret(time::times(k, tid, a[0])),
        S::Getrusage => ret(time::getrusage(k, tid, a[0] as i64 as i32, a[1])),
        _ => return None,
    })
}

#[cfg(test)]
mod tests;

//! What /proc shows, read from the kernel's tables: [`ProcView`] answers the VFS's
//! [`ProcSource`] questions for one caller, filling [`crate::proc_text`]'s inputs from the
//! process, thread, memory and mount tables.

use crate::proc_text::{self as text, MapName, Mapping, ProcessInfo, TaskState};
use crate::signal::SIG_IGN;
use crate::task::{Kernel, Pid, ProcessState, ThreadState, Tid};
use crate::vfs::Timestamp;
use crate::vfs::path::Resolver;
use crate::vfs::procfs::{GlobalFile, PidFile, PidLink, ProcSource};
use crate::vm::AreaKind;
use alloc::format;
use alloc::vec::Vec;
use hal::arch::Arch;
use hal::mmu::AddressSpace;

pub struct ProcView<'a, A: Arch> {
    k: &'a Kernel<A>,
    caller: Pid,
}

impl<'a, A: Arch> ProcView<'a, A> {
    pub fn new(k: &'a Kernel<A>, tid: Tid) -> Self {
        Self {
            k,
            caller: k.threads.get(&tid).map_or(0, |t| t.pid),
        }
    }

    fn resolver_for(&self, pid: Pid) -> Option<(Resolver<'_>, crate::vfs::FsContext)> {
        let fs = self.k.processes.get(&pid)?.fs.borrow().clone();
        Some((
            Resolver {
                vfs: &self.k.vfs,
                proc: self,
                root: fs.root.clone(),
            },
            fs,
        ))
    }

    fn state(&self, pid: Pid) -> TaskState {
        let p = &self.k.processes[&pid];
        match p.state {
            ProcessState::Zombie(_) => TaskState::Zombie,
            ProcessState::Stopped { .. } => TaskState::Stopped,
            ProcessState::Running => {
                let running = p.threads.iter().any(|t| {
                    self.k
                        .threads
                        .get(t)
                        .is_some_and(|t| t.state == ThreadState::Runnable)
                });
                if running {
                    TaskState::Running
                } else {
                    TaskState::Sleeping
                }
            }
        }
    }

    fn info(&self, pid: Pid) -> Option<ProcessInfo<'_>> {
        let k = self.k;
        let p = k.processes.get(&pid)?;
        let threads: Vec<_> = p.threads.iter().filter_map(|t| k.threads.get(t)).collect();
        let (user, system) = threads.iter().fold((p.user_ns, p.system_ns), |acc, t| {
            (acc.0 + t.user_ns, acc.1 + t.system_ns)
        });
        let mut ignored = 0u64;
        let mut caught = 0u64;
        // actions[n] is signal n+1's, whose sigset bit is n.
        for (i, a) in p.actions.iter().enumerate() {
            match a.handler {
                0 => {}
                SIG_IGN => ignored |= 1 << i,
                _ => caught |= 1 << i,
            }
        }
        let tty = (k.console_tty.tty.session == Some(p.sid)).then(|| text::ControllingTty {
            major: 4,
            minor: 64,
            foreground_pgrp: k.console_tty.tty.foreground.unwrap_or(0),
        });
        let mm = k.vms.get(&p.vm).map(|slot| {
            let mut mm = text::MmInfo::default();
            for a in slot.vm.areas() {
                let pages = (a.end - a.start) / 4096;
                mm.total_vm += pages;
                match a.kind {
                    AreaKind::Image if a.prot.execute => {
                        mm.exec_vm += pages;
                        if mm.start_code == 0 {
                            mm.start_code = a.start;
                        }
                        mm.end_code = a.end;
                    }
                    AreaKind::Stack => {
                        mm.stack_vm += pages;
                        mm.start_stack = a.end;
                    }
                    _ if a.prot.write && !a.shared => mm.data_vm += pages,
                    _ => {}
                }
            }
            let mut resident = 0u64;
            slot.vm
                .space()
                .for_each_mapped(0, A::USER_END, &mut |_, _, _| resident += 1);
            mm.anon_pages = resident;
            let (brk_start, _) = slot.vm.brk_range();
            mm.start_brk = brk_start;
            mm
        });
        Some(ProcessInfo {
            pid,
            tgid: pid,
            comm: p.name.as_bytes(),
            state: self.state(pid),
            ppid: if pid == 1 { 0 } else { p.parent },
            pgrp: p.pgid,
            session: p.sid,
            tty,
            utime_ns: user,
            stime_ns: system,
            cutime_ns: p.children_user_ns,
            cstime_ns: p.children_system_ns,
            num_threads: threads.len() as u32,
            start_time_ns: p.start_ns,
            rss_limit: u64::MAX,
            mm,
            sig_pending: threads.iter().fold(0, |m, t| m | t.pending.set().0),
            sig_shared_pending: p.pending.set().0,
            sig_blocked: threads.first().map_or(0, |t| t.blocked.0),
            sig_ignored: ignored,
            sig_caught: caught,
            sigq_limit: p.rlimits[11].0,
            exit_signal: p.exit_signal as i32,
            umask: Some(p.fs.borrow().umask),
            fd_table_size: 64,
            caps: text::Capabilities {
                inheritable: 0,
                permitted: 0x1ff_ffff_ffff,
                effective: 0x1ff_ffff_ffff,
                bounding: 0x1ff_ffff_ffff,
                ambient: 0,
            },
            cpus_allowed: 1,
            nr_cpu_ids: 1,
            reader_may_inspect: true,
            ..ProcessInfo::default()
        })
    }

    fn maps(&self, pid: Pid) -> Option<Vec<u8>> {
        let p = self.k.processes.get(&pid)?;
        let slot = self.k.vms.get(&p.vm)?;
        let exe = p.exe.clone();
        let list: Vec<Mapping> = slot
            .vm
            .areas()
            .map(|a| Mapping {
                start: a.start,
                end: a.end,
                read: a.prot.read,
                write: a.prot.write,
                exec: a.prot.execute,
                shared: a.shared,
                name: match a.kind {
                    AreaKind::Heap => MapName::Heap,
                    AreaKind::Stack => MapName::Stack,
                    AreaKind::Trampoline => MapName::Special("[vdso]"),
                    AreaKind::Image => MapName::File {
                        path: &exe,
                        offset: 0,
                        dev_major: 0,
                        dev_minor: 1,
                        inode: 0,
                    },
                    AreaKind::Mmap => MapName::Anonymous,
                },
            })
            .collect();
        Some(text::pid_maps(&list))
    }

    /// argv (with Linux's setproctitle rule) or envp, read from the process's memory.
    fn live_args(&self, pid: Pid, argv: bool) -> Option<Vec<u8>> {
        let p = self.k.processes.get(&pid)?;
        let space = self.k.vms.get(&p.vm)?.vm.space();
        let (arg, env) = (p.arg_areas.arg, p.arg_areas.env);
        let (start, end) = if !argv {
            env
        } else if env.0 == arg.1 && env.1 > env.0 {
            // The title may run on into the environment (setproctitle).
            (arg.0, env.1)
        } else {
            arg
        };
        if start == 0 || end <= start || end - start > 1 << 20 {
            return None;
        }
        let mut area = alloc::vec![0u8; (end - start) as usize];
        space.read_user(start, &mut area).ok()?;
        Some(if argv {
            text::cmdline_from_memory(&area, (arg.1 - arg.0) as usize)
        } else {
            area
        })
    }

    fn mounts(&self) -> Vec<u8> {
        let Some((r, _)) = self.resolver_for(self.caller) else {
            return Vec::new();
        };
        let points: Vec<(Vec<u8>, Vec<u8>, &'static str)> = self
            .k
            .vfs
            .mounts
            .iter()
            .map(|m| {
                let at = crate::vfs::Location {
                    mount: m.clone(),
                    node: m.root.clone(),
                    parent: None,
                };
                (m.source.as_bytes().to_vec(), r.path_of(&at), m.fstype)
            })
            .collect();
        let list: Vec<text::MountInfo> = points
            .iter()
            .map(|(source, point, fstype)| text::MountInfo {
                device: source,
                mount_point: point,
                fs_type: fstype,
                flags: text::MountFlags {
                    relatime: true,
                    ..Default::default()
                },
                fs_options: &[],
            })
            .collect();
        text::mounts(&list)
    }
}

impl<A: Arch> ProcSource for ProcView<'_, A> {
    fn current(&self) -> u32 {
        self.caller
    }

    fn pids(&self) -> Vec<u32> {
        self.k.processes.keys().copied().collect()
    }

    fn fds(&self, pid: u32) -> Option<Vec<u32>> {
        let p = self.k.processes.get(&pid)?;
        let fds = p.files.borrow().fds().collect();
        Some(fds)
    }

    fn link(&self, pid: u32, link: PidLink) -> Option<Vec<u8>> {
        let p = self.k.processes.get(&pid)?;
        let (r, fs) = self.resolver_for(pid)?;
        match link {
            PidLink::Exe => Some(p.exe.clone()),
            PidLink::Cwd => Some(r.path_of(&fs.cwd)),
            PidLink::Root => Some(r.path_of(&fs.root)),
            PidLink::Fd(fd) => {
                let f = p.files.borrow().get(fd).cloned()?;
                let d = f.borrow();
                Some(match (&d.path, &d.file) {
                    (Some(loc), _) => r.path_of(loc),
                    (None, crate::fd::File::Pipe(end)) => {
                        format!("pipe:[{}]", end.pipe.as_ptr() as usize & 0xffff_ffff).into_bytes()
                    }
                    (None, crate::fd::File::Console) => b"/dev/console".to_vec(),
                    (None, crate::fd::File::Epoll(_)) => b"anon_inode:[eventpoll]".to_vec(),
                    (None, crate::fd::File::EventFd(_)) => b"anon_inode:[eventfd]".to_vec(),
                    (None, _) => b"anon_inode:[unknown]".to_vec(),
                })
            }
        }
    }

    fn pid_file(&self, pid: u32, file: PidFile) -> Option<Vec<u8>> {
        let p = self.k.processes.get(&pid)?;
        Some(match file {
            PidFile::Stat => text::pid_stat(&self.info(pid)?),
            PidFile::Status => text::pid_status(&self.info(pid)?),
            PidFile::Statm => text::pid_statm(&self.info(pid)?).into_bytes(),
            PidFile::Cmdline => self
                .live_args(pid, true)
                .unwrap_or_else(|| p.cmdline.clone()),
            PidFile::Environ => self
                .live_args(pid, false)
                .unwrap_or_else(|| p.environ.clone()),
            PidFile::Comm => format!("{}\n", p.name).into_bytes(),
            PidFile::Maps => self.maps(pid)?,
            PidFile::Mounts => self.mounts(),
        })
    }

    fn global_file(&self, file: GlobalFile) -> Vec<u8> {
        let k = self.k;
        let now = k.clock.monotonic();
        match file {
            GlobalFile::Meminfo => {
                let total = k.frames.total_frames() * 4;
                let free = k.frames.free_frames() * 4;
                text::meminfo(&text::MemInfo {
                    mem_total: total,
                    mem_free: free,
                    mem_available: free,
                    // The kernel heap is Cyphera's slab: kernel objects, none reclaimable.
                    slab_unreclaimable: crate::memory::heap_in_use().div_ceil(1024),
                    ..Default::default()
                })
                .into_bytes()
            }
            GlobalFile::Cpuinfo => if A::ELF_MACHINE == crate::elf::EM_AARCH64 {
                text::aarch64_cpuinfo(&text::Aarch64CpuInfo {
                    cpus: &[text::Aarch64Cpu {
                        processor: 0,
                        midr: 0,
                    }],
                    bogomips_centi: 12500,
                    hwcap: A::hwcap(),
                    hwcap2: 0,
                })
            } else {
                text::x86_cpuinfo(&[text::X86Cpu {
                    vendor_id: "",
                    model_name: "",
                    siblings: 1,
                    cpu_cores: 1,
                    clflush_size: 64,
                    cache_alignment: 64,
                    phys_bits: 40,
                    virt_bits: 48,
                    ..Default::default()
                }])
            }
            .into_bytes(),
            GlobalFile::Uptime => {
                let idle = now.saturating_sub(
                    k.threads
                        .values()
                        .map(|t| t.user_ns + t.system_ns)
                        .sum::<u64>(),
                );
                text::uptime(now, idle).into_bytes()
            }
            GlobalFile::Version => text::version(&text::VersionInfo {
                sysname: crate::syscall::system::SYSNAME,
                release: crate::syscall::system::RELEASE,
                compile_by: "cyphera",
                compile_host: "cyphera",
                compiler: "rustc",
                version: concat!("#1 Cyphera ", env!("CARGO_PKG_VERSION")),
            })
            .into_bytes(),
            GlobalFile::Loadavg => {
                let running = k
                    .threads
                    .values()
                    .filter(|t| t.state == ThreadState::Runnable)
                    .count() as u32;
                text::loadavg(&text::LoadAvg {
                    avenrun: [0; 3],
                    running,
                    total: k.threads.len() as u32,
                    last_pid: k.processes.keys().copied().max().unwrap_or(0),
                })
                .into_bytes()
            }
            GlobalFile::Stat => {
                let user: u64 = k.threads.values().map(|t| t.user_ns).sum();
                let system: u64 = k.threads.values().map(|t| t.system_ns).sum();
                let ticks = text::ns_to_clock_ticks;
                let cpu = text::CpuTimes {
                    user: ticks(user),
                    system: ticks(system),
                    idle: ticks(now.saturating_sub(user + system)),
                    ..Default::default()
                };
                text::stat(&text::SystemStat {
                    cpus: &[cpu],
                    boot_time: (k.clock.realtime() - now) / 1_000_000_000,
                    forks: k.processes.keys().copied().max().unwrap_or(0) as u64,
                    procs_running: 1,
                    ..Default::default()
                })
                .into_bytes()
            }
            GlobalFile::Filesystems => text::filesystems(&[
                text::FilesystemType {
                    name: "tmpfs",
                    requires_dev: false,
                },
                text::FilesystemType {
                    name: "ramfs",
                    requires_dev: false,
                },
                text::FilesystemType {
                    name: "devtmpfs",
                    requires_dev: false,
                },
                text::FilesystemType {
                    name: "proc",
                    requires_dev: false,
                },
            ])
            .into_bytes(),
        }
    }

    fn boot_time(&self) -> Timestamp {
        let k = self.k;
        // Two clock reads: the second is later, so without a real-time clock (wall clock at
        // the epoch, as on the Raspberry Pis) the difference would go below zero.
        Timestamp::from_ns(k.clock.realtime().saturating_sub(k.clock.monotonic()))
    }
}

//! The arch-neutral kernel entry: every board ends its wiring by calling [`start`], which builds
//! the frame allocator, runs init from the initramfs and powers off when init ends, with init's
//! fate printed as a marker line the host tooling reads.

use crate::cmdline::{self, InitSpec};
use crate::memory::{self, BitmapFrameAllocator};
use crate::process;
use crate::sched;
use crate::signal;
use crate::task::{InitEnd, Kernel};
use crate::time::Clock;
use crate::{console, kprintln, vfs};
use alloc::string::String;
use alloc::vec::Vec;
use hal::arch::Arch;
use hal::boot::BootInfo;
use hal::console::Console;
use hal::power::Power;
use hal::rtc::Rtc;
use hal::timer::Timer;
use spin::Once;

/// What the board hands the core: composed drivers plus the boot data it already mapped.
pub struct Platform {
    pub console: &'static dyn Console,
    pub power: &'static dyn Power,
    /// The initramfs bytes (newc cpio), empty if none was given.
    pub initramfs: &'static [u8],
    /// The monotonic clock and its deadline interrupt (scheduling, sleeps, timeouts).
    pub timer: &'static dyn Timer,
    /// The wall clock at boot, if the machine has one (else the epoch).
    pub rtc: Option<&'static dyn Rtc>,
}

/// The power driver, kept for the panic handler.
static POWER: Once<&'static dyn Power> = Once::new();

/// Status passed to the power driver after a kernel panic (sysexits' EX_SOFTWARE); the console
/// marker is what tooling trusts.
pub const PANIC_STATUS: u8 = 70;
/// Status when init cannot be found, or cannot be executed (the shell's 127 and 126).
const INIT_NOT_FOUND: u8 = 127;
const INIT_NOT_EXECUTABLE: u8 = 126;

/// Runs the kernel: frame allocator, initramfs, `/init`, the scheduler; powers off when init ends.
pub fn start<A: Arch>(boot: &'static BootInfo, platform: Platform) -> ! {
    console::init(platform.console);
    POWER.call_once(|| platform.power);
    let spec = cmdline::parse(boot.command_line());
    if spec.quiet {
        log::set_max_level(log::LevelFilter::Warn);
    }
    log::info!(
        "Cyphera {} ({}) booted via {:?}; command line: {:?}",
        env!("CARGO_PKG_VERSION"),
        A::MACHINE,
        boot.protocol,
        boot.command_line()
    );
    report_boot(boot);
    let free = memory::free_ranges(boot);
    let frames = BitmapFrameAllocator::new(free.as_slice());
    log::info!(
        "memory: {} MiB free in {} ranges; initramfs {} KiB",
        frames.free_frames() * 4 / 1024,
        free.as_slice().len(),
        platform.initramfs.len() / 1024
    );
    let boot_time = platform.rtc.and_then(|rtc| rtc.unix_time()).unwrap_or(0);
    let clock = Clock::new(platform.timer, boot_time);
    let mut kernel = Kernel::<A>::new(frames, platform.console, clock, platform.initramfs);

    let baseline = kernel.frames.free_frames();
    let started = start_init(&mut kernel, &spec);
    if let (Ok(()), Some(name)) = (&started, &spec.selftest) {
        let (status, why) = crate::selftest::run(&mut kernel, 1, name);
        kprintln!("cyphera: {why}");
        // Init never ran; as when it cannot be started, the status marker is what the test
        // harness and `cargo xtask run` read.
        kprintln!("cyphera: init exited with status {status}");
        platform.power.power_off(status)
    }
    let status = match started {
        Ok(()) => match run_and_account(&mut kernel, baseline) {
            InitEnd::Exited(status) => {
                kprintln!("cyphera: init exited with status {status}");
                status
            }
            InitEnd::Killed(sig) => {
                kprintln!(
                    "cyphera: init killed by signal {sig} ({})",
                    signal::name(sig)
                );
                (128 + sig) as u8
            }
            InitEnd::PowerOff => {
                kprintln!("cyphera: system power off");
                0
            }
            InitEnd::Restart => {
                kprintln!("cyphera: system restart");
                platform.power.reboot()
            }
            InitEnd::Halt => {
                kprintln!("cyphera: system halted");
                loop {
                    A::wait_for_interrupt();
                }
            }
        },
        Err((status, reason)) => {
            kprintln!("cyphera: cannot run init {}: {reason}", spec.path);
            kprintln!("cyphera: init exited with status {status}");
            status
        }
    };
    platform.power.power_off(status)
}

/// Runs until init ends, then ends every process still alive and checks that every frame user
/// memory took came back: the marker `cyphera: memory leak` tells the test harness otherwise.
fn run_and_account<A: Arch>(kernel: &mut Kernel<A>, baseline: u64) -> InitEnd {
    let end = sched::run(kernel);
    let survivors: Vec<_> = kernel.processes.keys().copied().collect();
    for pid in survivors {
        kernel.exit_group(
            pid,
            crate::task::ExitStatus::Killed {
                signal: signal::SIGKILL,
                core: false,
            },
        );
    }
    kprintln!(
        "cyphera: kernel served {} system calls and created {} threads",
        kernel.stats.syscalls,
        kernel.stats.threads_created
    );
    let free = kernel.frames.free_frames();
    if free == baseline {
        log::info!("memory: every user frame returned ({free} free)");
    } else {
        kprintln!(
            "cyphera: memory leak: {} frames not returned after every process ended",
            baseline as i64 - free as i64
        );
    }
    end
}

/// Unpacks the initramfs into the root tmpfs, mounts devtmpfs on /dev, finds init there and
/// makes it process 1 with /dev/console as descriptors 0, 1 and 2.
fn start_init<A: Arch>(kernel: &mut Kernel<A>, spec: &InitSpec) -> Result<(), (u8, String)> {
    use alloc::format;
    let initramfs = kernel.initramfs;
    if initramfs.is_empty() {
        return Err((
            INIT_NOT_FOUND,
            String::from("no initramfs was given (QEMU: -initrd FILE)"),
        ));
    }
    let root = kernel.vfs.root();
    let unpacked = vfs::initramfs::unpack(&kernel.vfs, &root.node, initramfs)
        .map_err(|e| (INIT_NOT_FOUND, format!("the initramfs is damaged: {e}")))?;
    log::info!(
        "initramfs: {} files, {} directories, {} hard links unpacked into the root tmpfs{}",
        unpacked.files,
        unpacked.dirs,
        unpacked.links,
        if unpacked.skipped > 0 {
            format!(" ({} members skipped)", unpacked.skipped)
        } else {
            String::new()
        }
    );
    let now = vfs::Timestamp::from_ns(kernel.clock.realtime());
    mount_dev(kernel, now);

    let argv: Vec<Vec<u8>> = spec.argv.iter().map(|s| s.as_bytes().to_vec()).collect();
    let envp: Vec<&[u8]> = spec.envp.iter().map(|s| s.as_bytes()).collect();
    let program = crate::exec::find(
        &vfs::path::Resolver {
            vfs: &kernel.vfs,
            proc: &NoProcesses,
            root: root.clone(),
        },
        &root,
        spec.path.as_bytes(),
        argv,
    )
    .map_err(|e| match e {
        crate::errno::Errno::EACCES | crate::errno::Errno::ENOEXEC => (
            INIT_NOT_EXECUTABLE,
            format!("{e:?}: not an executable regular file"),
        ),
        _ => (
            INIT_NOT_FOUND,
            format!("{e:?}: no such file in the initramfs"),
        ),
    })?;
    let argv: Vec<&[u8]> = program.argv.iter().map(|s| s.as_slice()).collect();
    let (vm, context) = process::load::<A>(
        &String::from_utf8_lossy(&program.path),
        &program.image,
        &argv,
        &envp,
        process::DEFAULT_STACK_LIMIT,
        &mut kernel.frames,
    )
    .map_err(|e| (INIT_NOT_EXECUTABLE, format!("{e}")))?;
    let areas = process::arg_areas(
        &vm,
        hal::user::UserContext::stack_pointer(&context),
        &argv,
        &envp,
    );
    let vm = kernel.add_vm(vm);
    let pid = kernel.spawn(0, process::comm(&spec.path), vm, context);
    debug_assert_eq!(pid, 1, "init must be pid 1");
    let console = vfs::path::Resolver {
        vfs: &kernel.vfs,
        proc: &NoProcesses,
        root: root.clone(),
    }
    .resolve(&root, b"/dev/console", true)
    .ok();
    let init = kernel.processes.get_mut(&pid).expect("init");
    init.exe = program.exe.clone();
    init.cmdline = crate::proc_text::cmdline(&argv);
    init.environ = crate::proc_text::environ(&envp);
    init.arg_areas = areas;
    // Linux opens /dev/console for init as descriptors 0, 1 and 2.
    let table = crate::fd::FdTable::with_console();
    if let Some(f) = table.get(0) {
        f.borrow_mut().path = console;
    }
    init.files.replace(table);
    Ok(())
}

/// Mounts a devtmpfs on /dev (creating the directory if the initramfs has none), as Linux
/// does with CONFIG_DEVTMPFS_MOUNT, so /dev/console and friends exist from the start.
fn mount_dev<A: Arch>(kernel: &mut Kernel<A>, now: vfs::Timestamp) {
    let root = kernel.vfs.root();
    let dev = match vfs::lookup_child(&root.node, b"dev") {
        Some(d) if d.is_dir() => d,
        Some(_) => {
            log::warn!("/dev is not a directory: no devtmpfs mounted");
            return;
        }
        None => match kernel.vfs.create(
            &root.node,
            b"dev",
            vfs::S_IFDIR | 0o755,
            now,
            vfs::dir_body(None),
        ) {
            Ok(d) => d,
            Err(_) => return,
        },
    };
    let devtmpfs = vfs::devfs::new_devtmpfs(&kernel.vfs, now);
    let at = vfs::Location {
        mount: root.mount.clone(),
        node: dev,
        parent: None,
    };
    // A fresh table has room; should it not, the system runs without /dev, as above.
    let _ = kernel.vfs.mount(&at, devtmpfs, "devtmpfs", "devtmpfs");
}

/// Before init exists there is no process for /proc to show.
struct NoProcesses;

impl vfs::procfs::ProcSource for NoProcesses {
    fn current(&self) -> u32 {
        0
    }
    fn pids(&self) -> Vec<u32> {
        Vec::new()
    }
    fn fds(&self, _pid: u32) -> Option<Vec<u32>> {
        None
    }
    fn link(&self, _pid: u32, _link: vfs::procfs::PidLink) -> Option<Vec<u8>> {
        None
    }
    fn pid_file(&self, _pid: u32, _file: vfs::procfs::PidFile) -> Option<Vec<u8>> {
        None
    }
    fn global_file(&self, _file: vfs::procfs::GlobalFile) -> Vec<u8> {
        Vec::new()
    }
    fn boot_time(&self) -> vfs::Timestamp {
        vfs::Timestamp::default()
    }
}

/// Logs what the boot path found, the same way on every board.
fn report_boot(boot: &BootInfo) {
    if boot.memory_map_truncated {
        log::warn!(
            "boot memory map truncated to {} entries",
            boot.memory_map().len()
        );
    }
    log::info!("memory map:");
    for region in boot.memory_map() {
        log::info!(
            "  {:#012x}-{:#012x} {:?}",
            region.range.start,
            region.range.end(),
            region.kind
        );
    }
    log::info!(
        "kernel image {:#x}+{:#x}, direct map at {:#x}",
        boot.kernel_image.start,
        boot.kernel_image.len,
        boot.phys_offset
    );
    if let Some(r) = boot.initramfs {
        log::info!("initramfs {:#x}+{:#x}", r.start, r.len);
    }
}

/// A kernel panic: say where, then power off so that a test run ends instead of hanging.
#[cfg(all(not(test), target_os = "none"))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    match info.location() {
        Some(l) => kprintln!(
            "cyphera: kernel panic at {}:{}:{}: {}",
            l.file(),
            l.line(),
            l.column(),
            info.message()
        ),
        None => kprintln!("cyphera: kernel panic: {}", info.message()),
    }
    if let Some(power) = POWER.get() {
        power.power_off(PANIC_STATUS);
    }
    loop {
        core::hint::spin_loop();
    }
}

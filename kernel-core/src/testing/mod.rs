//! A mock architecture for host tests: a register file with the syscall convention in plain
//! fields, a tiny syscall table, and the mock address space of [`space`].

mod space;

pub use space::MockSpace;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use hal::arch::Arch;
use hal::boot::PhysAddr;
use hal::console::Console;
use hal::mmu::BadUserAddress;
use hal::signal::{SignalDelivery, SignalReturn};
use hal::syscall::Sysno;
use hal::timer::Timer;
use hal::user::{CloneArgs, ReturnReason, UserContext, UserFault};

pub struct MockArch;

/// One thing a mock thread does when it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Make a system call (x86_64 numbering, see [`MockArch::sysno`]).
    Syscall(u64, [u64; 6]),
    /// Fault like the hardware would.
    Fault(UserFault),
}

/// A mock thread's registers and the script it executes. `returns` records every syscall result
/// in order; signal frames save and restore the whole register file, script included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MockContext {
    pub pc: u64,
    pub sp: u64,
    pub number: u64,
    pub args: [u64; 6],
    pub ret: u64,
    pub tp: u64,
    pub script: VecDeque<Step>,
    pub returns: Vec<u64>,
    /// Saved contexts of the signal frames currently on the stack, innermost last.
    pub frames: Vec<(Box<MockContext>, SignalDelivery)>,
    /// Every signal a handler was entered for, in order.
    pub handled: Vec<u32>,
}

impl MockContext {
    pub fn scripted(steps: impl IntoIterator<Item = Step>) -> Self {
        Self {
            script: steps.into_iter().collect(),
            sp: 0x7fff_0000,
            ..Default::default()
        }
    }
}

impl UserContext for MockContext {
    fn new(entry: u64, stack_pointer: u64) -> Self {
        Self {
            pc: entry,
            sp: stack_pointer,
            ..Default::default()
        }
    }
    fn pc(&self) -> u64 {
        self.pc
    }
    fn set_pc(&mut self, pc: u64) {
        self.pc = pc;
    }
    fn stack_pointer(&self) -> u64 {
        self.sp
    }
    fn set_stack_pointer(&mut self, sp: u64) {
        self.sp = sp;
    }
    fn syscall_number(&self) -> u64 {
        self.number
    }
    fn syscall_args(&self) -> [u64; 6] {
        self.args
    }
    fn set_syscall_return(&mut self, value: u64) {
        self.ret = value;
        self.returns.push(value);
    }
    fn thread_pointer(&self) -> u64 {
        self.tp
    }
    fn set_thread_pointer(&mut self, tp: u64) {
        self.tp = tp;
    }
    fn alternate_thread_pointer(&self) -> Option<u64> {
        None
    }
    fn set_alternate_thread_pointer(&mut self, _value: u64) -> bool {
        false
    }
    fn restart_syscall(&mut self) {
        // The pc goes back to the syscall instruction: the same call comes next again.
        self.script
            .push_front(Step::Syscall(self.number, self.args));
    }
}

std::thread_local! {
    /// The mock monotonic clock (ns); idling jumps it to the pending deadline.
    static NOW: Cell<u64> = const { Cell::new(0) };
    static DEADLINE: Cell<u64> = const { Cell::new(u64::MAX) };
    /// The last `attempt_violation` the mock arch was asked for.
    static VIOLATION: Cell<Option<(hal::protection::Violation, u64, u64)>> = const { Cell::new(None) };
    /// Scripts of signal handlers, by handler address.
    static HANDLERS: RefCell<BTreeMap<u64, Vec<Step>>> = const { RefCell::new(BTreeMap::new()) };
}

/// The script a handler at `address` runs before its `rt_sigreturn`.
pub fn set_handler_script(address: u64, steps: Vec<Step>) {
    HANDLERS.with(|h| h.borrow_mut().insert(address, steps));
}

pub fn advance_clock(ns: u64) {
    NOW.with(|n| n.set(n.get() + ns));
}

pub struct MockTimer;
pub static MOCK_TIMER: MockTimer = MockTimer;

impl Timer for MockTimer {
    fn now_ns(&self) -> u64 {
        NOW.with(Cell::get)
    }
    fn set_deadline(&self, deadline_ns: u64) {
        DEADLINE.with(|d| d.set(deadline_ns));
    }
}

/// x86_64 numbers of the calls the scenario tests use.
pub mod nr {
    pub const WRITE: u64 = 1;
    pub const OPEN: u64 = 2;
    pub const CLOSE: u64 = 3;
    pub const STAT: u64 = 4;
    pub const LSEEK: u64 = 8;
    pub const GETCWD: u64 = 79;
    pub const CHDIR: u64 = 80;
    pub const RENAME: u64 = 82;
    pub const MKDIR: u64 = 83;
    pub const RMDIR: u64 = 84;
    pub const UNLINK: u64 = 87;
    pub const GETDENTS64: u64 = 217;
    pub const MMAP: u64 = 9;
    pub const BRK: u64 = 12;
    pub const RT_SIGACTION: u64 = 13;
    pub const RT_SIGPROCMASK: u64 = 14;
    pub const RT_SIGRETURN: u64 = 15;
    pub const WRITEV: u64 = 20;
    pub const SCHED_YIELD: u64 = 24;
    pub const PAUSE: u64 = 34;
    pub const NANOSLEEP: u64 = 35;
    pub const GETPID: u64 = 39;
    pub const CLONE: u64 = 56;
    pub const FORK: u64 = 57;
    pub const VFORK: u64 = 58;
    pub const EXIT: u64 = 60;
    pub const WAIT4: u64 = 61;
    pub const KILL: u64 = 62;
    pub const UNAME: u64 = 63;
    pub const GETPPID: u64 = 110;
    pub const RT_SIGSUSPEND: u64 = 130;
    pub const GETTID: u64 = 186;
    pub const FUTEX: u64 = 202;
    pub const EXIT_GROUP: u64 = 231;
    pub const TGKILL: u64 = 234;
    pub const WAITID: u64 = 247;
    pub const READ: u64 = 0;
    pub const MOUNT: u64 = 165;
    pub const UMOUNT2: u64 = 166;
    pub const RENAMEAT2: u64 = 316;
}

impl Arch for MockArch {
    const MACHINE: &'static str = "mock64";
    const ELF_MACHINE: u16 = crate::elf::EM_X86_64;
    const USER_END: u64 = 0x0000_7fff_ffff_f000;
    type Context = MockContext;
    type AddressSpace = MockSpace;

    fn sysno(number: u64) -> Option<Sysno> {
        use Sysno as S;
        Some(match number {
            nr::READ => S::Read,
            nr::WRITE => S::Write,
            nr::MMAP => S::Mmap,
            nr::BRK => S::Brk,
            nr::RT_SIGACTION => S::RtSigaction,
            nr::RT_SIGPROCMASK => S::RtSigprocmask,
            nr::RT_SIGRETURN => S::RtSigreturn,
            nr::WRITEV => S::Writev,
            nr::SCHED_YIELD => S::SchedYield,
            nr::PAUSE => S::Pause,
            nr::NANOSLEEP => S::Nanosleep,
            nr::GETPID => S::Getpid,
            nr::CLONE => S::Clone,
            nr::FORK => S::Fork,
            nr::VFORK => S::Vfork,
            nr::EXIT => S::Exit,
            nr::WAIT4 => S::Wait4,
            nr::KILL => S::Kill,
            nr::UNAME => S::Uname,
            nr::GETPPID => S::Getppid,
            nr::RT_SIGSUSPEND => S::RtSigsuspend,
            nr::GETTID => S::Gettid,
            nr::FUTEX => S::Futex,
            nr::EXIT_GROUP => S::ExitGroup,
            nr::TGKILL => S::Tgkill,
            nr::WAITID => S::Waitid,
            nr::OPEN => S::Open,
            nr::CLOSE => S::Close,
            nr::STAT => S::Stat,
            nr::LSEEK => S::Lseek,
            nr::GETCWD => S::Getcwd,
            nr::CHDIR => S::Chdir,
            nr::RENAME => S::Rename,
            nr::MKDIR => S::Mkdir,
            nr::RMDIR => S::Rmdir,
            nr::UNLINK => S::Unlink,
            nr::GETDENTS64 => S::Getdents64,
            nr::MOUNT => S::Mount,
            nr::UMOUNT2 => S::Umount2,
            nr::RENAMEAT2 => S::Renameat2,
            _ => return None,
        })
    }

    /// Runs the next step of the thread's script; a finished script exits the process with 0.
    fn run_user(context: &mut MockContext, _space: &MockSpace) -> ReturnReason {
        match context.script.pop_front() {
            Some(Step::Syscall(number, args)) => {
                context.number = number;
                context.args = args;
                ReturnReason::Syscall
            }
            Some(Step::Fault(fault)) => ReturnReason::Fault(fault),
            None => {
                context.number = nr::EXIT_GROUP;
                context.args = [0; 6];
                ReturnReason::Syscall
            }
        }
    }
    fn hwcap() -> u64 {
        0x1234
    }
    fn random_bytes() -> [u8; 16] {
        [7; 16]
    }
    fn zero_frame(frame: PhysAddr) {
        space::zero_frame(frame);
    }
    fn copy_frame(dst: PhysAddr, src: PhysAddr) {
        space::copy_frame(dst, src);
    }
    fn wait_for_interrupt() {
        // Idle until the deadline: the mock clock jumps there.
        let deadline = DEADLINE.with(Cell::get);
        assert!(
            deadline != u64::MAX,
            "idle with no deadline: the test would hang"
        );
        NOW.with(|n| n.set(n.get().max(deadline)));
        DEADLINE.with(|d| d.set(u64::MAX));
    }
    fn clone_args(raw: [u64; 6]) -> CloneArgs {
        CloneArgs {
            flags: raw[0],
            stack: raw[1],
            parent_tid: raw[2],
            child_tid: raw[3],
            tls: raw[4],
        }
    }
    fn push_signal_frame(
        context: &mut MockContext,
        _space: &MockSpace,
        delivery: &SignalDelivery,
    ) -> Result<(), BadUserAddress> {
        let saved = Box::new(MockContext {
            frames: Vec::new(),
            ..context.clone()
        });
        context.frames.push((saved, *delivery));
        context.handled.push(delivery.signal);
        context.pc = delivery.handler;
        context.sp = delivery.stack_pointer - 256;
        let mut handler = HANDLERS
            .with(|h| h.borrow().get(&delivery.handler).cloned())
            .unwrap_or_default();
        handler.push(Step::Syscall(nr::RT_SIGRETURN, [0; 6]));
        context.script = handler.into();
        Ok(())
    }
    fn pop_signal_frame(
        context: &mut MockContext,
        _space: &MockSpace,
    ) -> Result<SignalReturn, BadUserAddress> {
        let (saved, delivery) = context.frames.pop().ok_or(BadUserAddress {
            address: context.sp,
        })?;
        let (frames, returns, handled) = (
            core::mem::take(&mut context.frames),
            core::mem::take(&mut context.returns),
            core::mem::take(&mut context.handled),
        );
        *context = *saved;
        context.frames = frames;
        context.returns = returns;
        context.handled = handled;
        Ok(SignalReturn {
            saved_mask: delivery.saved_mask,
            alt_stack: delivery.alt_stack,
        })
    }
    const SIGRETURN_TRAMPOLINE: &'static [u8] = &[0x0f, 0x05];

    /// The host has no kernel mode to protect: the attempt is recorded and returns, as a
    /// kernel without the protection would.
    fn attempt_violation(
        violation: hal::protection::Violation,
        _space: &MockSpace,
        user_data: u64,
        user_code: u64,
    ) {
        VIOLATION.with(|v| v.set(Some((violation, user_data, user_code))));
    }
}

/// The last violation attempted on this thread, taken (so the next call sees a fresh state).
pub fn last_violation() -> Option<(hal::protection::Violation, u64, u64)> {
    VIOLATION.with(|v| v.take())
}

/// A mock kernel with a small program loaded as pid 1, as `start` leaves it before the run loop.
pub fn kernel_with_program() -> crate::task::Kernel<MockArch> {
    use crate::process;
    let frames = crate::memory::BitmapFrameAllocator::new(&[hal::boot::PhysRange::new(
        0x100_0000,
        1024 * hal::mmu::PAGE_SIZE,
    )]);
    let console: &'static RecordingConsole = Box::leak(Box::default());
    let mut k = crate::task::Kernel::new(
        frames,
        console,
        crate::time::Clock::new(&MOCK_TIMER, 0),
        &[],
    );
    let image = tiny_elf(&[0x0f, 0x05], 0x2000);
    let argv: [&[u8]; 1] = [b"/init"];
    let (vm, context) = process::load::<MockArch>(
        "/init",
        &image,
        &argv,
        &[],
        process::DEFAULT_STACK_LIMIT,
        &mut k.frames,
    )
    .expect("load");
    let vm = k.add_vm(vm);
    k.spawn(0, process::comm("/init"), vm, context);
    k
}

/// The lowest thread id of `k` (pid 1's main thread after [`kernel_with_program`]).
pub fn first_thread(k: &crate::task::Kernel<MockArch>) -> crate::task::Tid {
    *k.threads.keys().next().expect("a thread")
}

/// A console that records what was written.
#[derive(Default)]
pub struct RecordingConsole {
    pub output: spin::Mutex<Vec<u8>>,
}

impl Console for RecordingConsole {
    fn write_bytes(&self, bytes: &[u8]) {
        self.output.lock().extend_from_slice(bytes);
    }
    fn read_byte(&self) -> Option<u8> {
        None
    }
}

/// Builds a minimal static x86_64 ELF executable: one RX segment at `0x40_0000` holding `code`
/// plus a RW segment of `bss` zero bytes at `0x60_0000`.
pub fn tiny_elf(code: &[u8], bss: u64) -> Vec<u8> {
    let mut elf = alloc::vec![0u8; 0x1000];
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[4] = 2; // ELFCLASS64
    elf[5] = 1; // little-endian
    elf[6] = 1; // EV_CURRENT
    elf[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf[18..20].copy_from_slice(&crate::elf::EM_X86_64.to_le_bytes());
    elf[20..24].copy_from_slice(&1u32.to_le_bytes());
    elf[24..32].copy_from_slice(&0x40_1000u64.to_le_bytes()); // entry
    elf[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
    elf[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
    elf[54..56].copy_from_slice(&56u16.to_le_bytes()); // phentsize
    elf[56..58].copy_from_slice(&2u16.to_le_bytes()); // phnum
    let phdr = |elf: &mut Vec<u8>,
                at: usize,
                flags: u32,
                offset: u64,
                vaddr: u64,
                filesz: u64,
                memsz: u64| {
        elf[at..at + 4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        elf[at + 4..at + 8].copy_from_slice(&flags.to_le_bytes());
        elf[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
        elf[at + 16..at + 24].copy_from_slice(&vaddr.to_le_bytes());
        elf[at + 24..at + 32].copy_from_slice(&vaddr.to_le_bytes());
        elf[at + 32..at + 40].copy_from_slice(&filesz.to_le_bytes());
        elf[at + 40..at + 48].copy_from_slice(&memsz.to_le_bytes());
        elf[at + 48..at + 56].copy_from_slice(&0x1000u64.to_le_bytes());
    };
    // Text: the headers page plus the code page (PF_R | PF_X).
    phdr(
        &mut elf,
        64,
        5,
        0,
        0x40_0000,
        0x1000 + code.len() as u64,
        0x1000 + code.len() as u64,
    );
    // Data: bss only (PF_R | PF_W).
    phdr(&mut elf, 120, 6, 0x1000, 0x60_0000, 0, bss.max(1));
    elf.extend_from_slice(code);
    elf
}

//! The saved user-mode register state of one x86_64 thread ([`Context`]) and the rules that
//! keep whatever the kernel puts into it safe to return to user mode with.
//!
//! The layout is `repr(C)` because the entry/exit assembly (`entry.rs`) stores and loads the
//! fields by offset. Host-tested.

use core::mem::offset_of;
use core::sync::atomic::{AtomicU32, Ordering};
use hal::user::UserContext;

/// The GDT selectors, in Linux's x86_64 layout so that the values user code can observe (`mov
/// ax, cs`, `sigcontext.cs`/`ss`) are Linux's: user cs 0x33, user ss 0x2b.
///
/// `syscall` loads CS = STAR[47:32] and SS = that + 8, so kernel data sits right after kernel
/// code; `sysretq` loads CS = STAR[63:48] + 16 and SS = STAR[63:48] + 8, so user data sits
/// right below user code, with STAR[63:48] naming slot 4, where Linux keeps its 32-bit user
/// code segment. That slot is a null descriptor here: there is no 32-bit user mode, and a far
/// jump to 0x23 faults instead of leaving 64-bit mode.
pub mod selectors {
    pub const KERNEL_CODE: u16 = 0x10;
    pub const KERNEL_DATA: u16 = 0x18;
    /// Slot 4 (Linux's `__USER32_CS`), null; only its number matters, to `sysretq`.
    pub const SYSRET_BASE: u16 = 0x20 | 3;
    pub const USER_DATA: u16 = 0x28 | 3;
    pub const USER_CODE: u16 = 0x30 | 3;
    /// Slots 8 and 9 (a 16-byte system descriptor), as on Linux.
    pub const TSS: u16 = 0x40;
}

/// The MXCSR bits a CPU that reports no mask (MXCSR_MASK = 0 in the `fxsave` image) supports:
/// everything but DAZ (bit 6), per the Intel SDM.
pub const DEFAULT_MXCSR_MASK: u32 = 0xffbf;

/// The MXCSR bits this CPU implements; `fxrstor` of an image with any other bit set raises #GP.
/// Set once at boot from the CPU's own `fxsave` image.
static MXCSR_MASK: AtomicU32 = AtomicU32::new(DEFAULT_MXCSR_MASK);

/// Records the MXCSR_MASK field of an `fxsave` image taken on this CPU (0 means the default).
pub fn set_mxcsr_mask(mask: u32) {
    let mask = if mask == 0 { DEFAULT_MXCSR_MASK } else { mask };
    MXCSR_MASK.store(mask, Ordering::Relaxed);
}

pub fn mxcsr_mask() -> u32 {
    MXCSR_MASK.load(Ordering::Relaxed)
}

/// Size of an `fxsave` image.
pub const FX_SIZE: usize = 512;
/// Offset of MXCSR in an `fxsave` image.
pub const FX_MXCSR: usize = 24;
/// Bytes 464..512 of an `fxsave` image are left to software; Linux keeps `_fpx_sw_bytes` there
/// (FP_XSTATE_MAGIC1 says an XSAVE area follows). `fxsave` never writes them.
pub const FX_SW_RESERVED: usize = 464;

/// The x87/SSE state as `fxsave64` writes it: 512 bytes, 16-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
pub struct FxState([u8; 512]);

impl FxState {
    /// The state `fninit` plus the default MXCSR give, which is what Linux starts a program
    /// with: x87 control word 0x037f (all exceptions masked, 64-bit precision), MXCSR 0x1f80
    /// (all SIMD exceptions masked, round to nearest), every register empty.
    pub const fn initial() -> Self {
        let mut bytes = [0u8; 512];
        bytes[0] = 0x7f; // FCW low
        bytes[1] = 0x03; // FCW high
        bytes[24] = 0x80; // MXCSR = 0x1f80
        bytes[25] = 0x1f;
        bytes[28] = 0xff; // MXCSR_MASK = 0xffff: every MXCSR bit the CPU may implement
        bytes[29] = 0xff;
        Self(bytes)
    }
}

impl FxState {
    pub fn bytes(&self) -> &[u8; FX_SIZE] {
        &self.0
    }

    pub fn mxcsr(&self) -> u32 {
        u32::from_le_bytes([
            self.0[FX_MXCSR],
            self.0[FX_MXCSR + 1],
            self.0[FX_MXCSR + 2],
            self.0[FX_MXCSR + 3],
        ])
    }

    /// An image taken from user memory (a signal frame), or `None` if `fxrstor` would refuse it:
    /// an MXCSR bit outside `mxcsr_mask`. No other field of the legacy image can make `fxrstor`
    /// fault. The software-reserved bytes are cleared: this kernel never claims an XSAVE area.
    pub fn from_user(bytes: &[u8; FX_SIZE], mxcsr_mask: u32) -> Option<Self> {
        let mut image = Self(*bytes);
        if image.mxcsr() & !mxcsr_mask != 0 {
            return None;
        }
        image.0[FX_SW_RESERVED..].fill(0);
        Some(image)
    }
}

impl core::fmt::Debug for FxState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mxcsr = u32::from_le_bytes([self.0[24], self.0[25], self.0[26], self.0[27]]);
        write!(
            f,
            "FxState {{ fcw: {:#x}, mxcsr: {mxcsr:#x} }}",
            u16::from_le_bytes([self.0[0], self.0[1]])
        )
    }
}

/// One user thread's registers: all 16 general registers, rip, rflags, the FS and GS bases,
/// and the x87/SSE state (saved and restored on every kernel entry and exit, so every context
/// owns its own FP registers even though the kernel itself never touches them).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct Context {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub rsp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    /// rax as the last `syscall` entered the kernel with (the syscall number), before the
    /// return value replaced it; `u64::MAX` after any other entry (Linux's `orig_ax`, which
    /// [`UserContext::restart_syscall`] and the signal code rely on).
    pub orig_rax: u64,
    /// The vector, error code and CR2 of the last fault taken from user mode: Linux's
    /// `thread.trap_nr`, `thread.error_code` and `thread.cr2`, which the signal frame reports in
    /// `sigcontext.trapno`, `err` and `cr2`.
    pub trap_nr: u64,
    pub error_code: u64,
    pub cr2: u64,
    /// Crate-private: an invalid image (e.g. reserved MXCSR bits) would fault inside the
    /// kernel's `fxrstor`, so only the CPU and the checked signal-frame code write it.
    pub(crate) fx: FxState,
}

/// Field offsets used by the assembly.
pub mod offsets {
    use super::*;
    pub const RAX: usize = offset_of!(Context, rax);
    pub const RBX: usize = offset_of!(Context, rbx);
    pub const RCX: usize = offset_of!(Context, rcx);
    pub const RDX: usize = offset_of!(Context, rdx);
    pub const RSI: usize = offset_of!(Context, rsi);
    pub const RDI: usize = offset_of!(Context, rdi);
    pub const RBP: usize = offset_of!(Context, rbp);
    pub const RSP: usize = offset_of!(Context, rsp);
    pub const R8: usize = offset_of!(Context, r8);
    pub const R9: usize = offset_of!(Context, r9);
    pub const R10: usize = offset_of!(Context, r10);
    pub const R11: usize = offset_of!(Context, r11);
    pub const R12: usize = offset_of!(Context, r12);
    pub const R13: usize = offset_of!(Context, r13);
    pub const R14: usize = offset_of!(Context, r14);
    pub const R15: usize = offset_of!(Context, r15);
    pub const RIP: usize = offset_of!(Context, rip);
    pub const RFLAGS: usize = offset_of!(Context, rflags);
    pub const ORIG_RAX: usize = offset_of!(Context, orig_rax);
    pub const FX: usize = offset_of!(Context, fx);
}

pub mod rflags {
    pub const CF: u64 = 1 << 0;
    pub const RESERVED_ONE: u64 = 1 << 1;
    pub const PF: u64 = 1 << 2;
    pub const AF: u64 = 1 << 4;
    pub const ZF: u64 = 1 << 6;
    pub const SF: u64 = 1 << 7;
    pub const TF: u64 = 1 << 8;
    pub const IF: u64 = 1 << 9;
    pub const DF: u64 = 1 << 10;
    pub const OF: u64 = 1 << 11;
    pub const IOPL: u64 = 3 << 12;
    pub const NT: u64 = 1 << 14;
    pub const RF: u64 = 1 << 16;
    pub const AC: u64 = 1 << 18;
    pub const ID: u64 = 1 << 21;
    /// What a user program may choose itself (Linux's `FIX_EFLAGS` minus RF, plus ID which
    /// CPUID probing toggles). Everything else is fixed by the kernel: IF always on (so that a
    /// user program cannot stop interrupts), IOPL 0 (no port I/O), NT/VM/VIF clear.
    pub const USER_MODIFIABLE: u64 = CF | PF | AF | ZF | SF | TF | DF | OF | AC | ID;
}

/// The flags a user thread actually runs with, whatever the saved value says.
pub const fn sanitize_rflags(value: u64) -> u64 {
    (value & rflags::USER_MODIFIABLE) | rflags::IF | rflags::RESERVED_ONE
}

/// Lowest non-canonical address with 4-level paging (48-bit virtual addresses).
pub const LOWER_HALF_END: u64 = 0x0000_8000_0000_0000;
/// Start of the canonical upper half.
pub const UPPER_HALF_START: u64 = 0xffff_8000_0000_0000;

pub const fn is_canonical(address: u64) -> bool {
    address < LOWER_HALF_END || address >= UPPER_HALF_START
}

impl Context {
    /// Makes the context safe to enter: flags as [`sanitize_rflags`], and FS/GS bases that
    /// `wrmsr` would refuse (non-canonical, a #GP in the kernel) replaced by 0.
    pub fn sanitize(&mut self) {
        self.rflags = sanitize_rflags(self.rflags);
        if !is_canonical(self.fs_base) {
            self.fs_base = 0;
        }
        if !is_canonical(self.gs_base) {
            self.gs_base = 0;
        }
    }

    /// True when `sysretq` restores exactly this context: it takes rip from rcx and rflags from
    /// r11, so those must already agree (they do right after a `syscall`), and rip must be in
    /// the lower canonical half — Intel CPUs raise #GP in ring 0, on the user stack, for a
    /// non-canonical rcx. Everything else returns with `iretq`.
    pub fn can_sysret(&self) -> bool {
        self.rcx == self.rip && self.r11 == self.rflags && self.rip < LOWER_HALF_END
    }
}

impl UserContext for Context {
    fn new(entry: u64, stack_pointer: u64) -> Self {
        Self {
            rax: 0,
            rbx: 0,
            rcx: 0,
            rdx: 0,
            rsi: 0,
            rdi: 0,
            rbp: 0,
            rsp: stack_pointer,
            r8: 0,
            r9: 0,
            r10: 0,
            r11: 0,
            r12: 0,
            r13: 0,
            r14: 0,
            r15: 0,
            rip: entry,
            rflags: sanitize_rflags(0),
            fs_base: 0,
            gs_base: 0,
            orig_rax: u64::MAX,
            trap_nr: 0,
            error_code: 0,
            cr2: 0,
            fx: FxState::initial(),
        }
    }
    fn pc(&self) -> u64 {
        self.rip
    }
    fn set_pc(&mut self, pc: u64) {
        self.rip = pc;
    }
    fn stack_pointer(&self) -> u64 {
        self.rsp
    }
    fn set_stack_pointer(&mut self, sp: u64) {
        self.rsp = sp;
    }
    fn syscall_number(&self) -> u64 {
        self.rax
    }
    fn syscall_args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }
    fn set_syscall_return(&mut self, value: u64) {
        self.rax = value;
    }
    fn thread_pointer(&self) -> u64 {
        self.fs_base
    }
    fn set_thread_pointer(&mut self, tp: u64) {
        self.fs_base = tp;
    }
    fn alternate_thread_pointer(&self) -> Option<u64> {
        Some(self.gs_base)
    }
    fn set_alternate_thread_pointer(&mut self, value: u64) -> bool {
        self.gs_base = value;
        true
    }
    fn restart_syscall(&mut self) {
        // `syscall` is two bytes (0f 05); rip points just past it. Only a context that entered
        // through `syscall` has a number to restore (Linux checks `orig_ax >= 0` the same way).
        if self.orig_rax == u64::MAX {
            return;
        }
        self.rip = self.rip.wrapping_sub(2);
        self.rax = self.orig_rax;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_context_is_zeroed_except_entry_and_stack() {
        let c = Context::new(0x401000, 0x7fff_0000);
        assert_eq!(c.pc(), 0x401000);
        assert_eq!(c.stack_pointer(), 0x7fff_0000);
        assert_eq!(c.syscall_args(), [0; 6]);
        assert_eq!(c.rax | c.rbx | c.rcx | c.rdx | c.rbp | c.r11 | c.r15, 0);
        assert_eq!(c.rflags, 0x202);
        assert_eq!(c.thread_pointer(), 0);
        // Fresh contexts enter with iretq: rcx/r11 do not mirror rip/rflags.
        assert!(!c.can_sysret());
    }

    #[test]
    fn syscall_registers_follow_the_linux_convention() {
        let mut c = Context::new(0, 0);
        c.rax = 60;
        c.rdi = 1;
        c.rsi = 2;
        c.rdx = 3;
        c.r10 = 4;
        c.r8 = 5;
        c.r9 = 6;
        c.rcx = 99; // clobbered by `syscall`, never an argument
        assert_eq!(c.syscall_number(), 60);
        assert_eq!(c.syscall_args(), [1, 2, 3, 4, 5, 6]);
        c.set_syscall_return(-38i64 as u64);
        assert_eq!(c.rax, -38i64 as u64);
        c.set_thread_pointer(0x1234);
        assert_eq!(c.fs_base, 0x1234);
    }

    #[test]
    fn rflags_are_sanitised() {
        // IOPL 3, NT, VM, IF clear in the request: IF forced on, the rest dropped.
        let dirty = rflags::IOPL | rflags::NT | (1 << 17) | rflags::CF | rflags::AC | rflags::DF;
        let clean = sanitize_rflags(dirty);
        assert_eq!(
            clean,
            rflags::CF | rflags::AC | rflags::DF | rflags::IF | rflags::RESERVED_ONE
        );
        assert_eq!(
            sanitize_rflags(u64::MAX) & (rflags::IOPL | rflags::NT | rflags::RF),
            0
        );
        assert_ne!(sanitize_rflags(0) & rflags::IF, 0);
    }

    #[test]
    fn sysret_only_when_it_restores_the_same_state() {
        let mut c = Context::new(0x401000, 0x7000);
        c.rcx = c.rip;
        c.r11 = c.rflags;
        assert!(c.can_sysret());
        c.rip = 0x0000_8000_0000_0000; // non-canonical: the Intel SYSRET hazard
        c.rcx = c.rip;
        assert!(!c.can_sysret());
        c.rip = 0xffff_ffff_8000_0000; // canonical but kernel half: iretq, then a user #PF
        c.rcx = c.rip;
        assert!(!c.can_sysret());
        c.rip = 0x401000;
        c.rcx = c.rip;
        c.r11 = 0;
        assert!(!c.can_sysret());
    }

    #[test]
    fn sanitize_drops_non_canonical_bases() {
        let mut c = Context::new(0, 0);
        c.fs_base = 0x0000_8000_0000_0000;
        c.gs_base = 0x7fff_0000;
        c.rflags = 0;
        c.sanitize();
        assert_eq!(c.fs_base, 0);
        assert_eq!(c.gs_base, 0x7fff_0000);
        assert_eq!(c.rflags, 0x202);
    }

    #[test]
    fn layout_is_what_the_assembly_expects() {
        assert_eq!(offsets::RAX, 0);
        assert_eq!(offsets::R15, 15 * 8);
        assert_eq!(offsets::RIP, 16 * 8);
        assert_eq!(offsets::FX % 16, 0);
        assert_eq!(core::mem::align_of::<Context>(), 16);
        let c = Context::new(0, 0);
        assert_eq!(
            format!("{:?}", c.fx),
            "FxState { fcw: 0x37f, mxcsr: 0x1f80 }"
        );
    }
}

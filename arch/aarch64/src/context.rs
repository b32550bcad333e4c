//! The saved user register state of one AArch64 thread, in the layout the exception entry code
//! (`trap.rs`) stores it, and its `hal::user::UserContext` accessors.

use hal::user::UserContext;

/// The FP/SIMD registers of one thread. The kernel itself never touches them (it is built
/// soft-float); they are saved and restored on every trap so that each user context owns its
/// own, and a fresh context (a new program) starts with them zeroed, as after Linux's `execve`.
#[repr(C, align(16))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FpState {
    /// v0..v31, each as two little-endian 64-bit halves.
    pub v: [[u64; 2]; 32],
    pub fpcr: u64,
    pub fpsr: u64,
}

/// One thread's user registers. `#[repr(C)]` because the assembly in `trap.rs` addresses the
/// fields by the offsets asserted below.
#[repr(C)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// x0..x30 (x30 is the link register).
    pub x: [u64; 31],
    /// SP_EL0.
    pub sp: u64,
    /// ELR_EL1: where user mode resumes (after an `svc`, the next instruction).
    pub pc: u64,
    /// SPSR_EL1 as saved on the last trap; sanitised by [`sanitize_pstate`] before every entry.
    pub pstate: u64,
    /// TPIDR_EL0, the user thread pointer.
    pub tpidr_el0: u64,
    /// ESR_EL1 of the last trap from user mode (not a user register: why it stopped).
    pub esr: u64,
    /// FAR_EL1 of the last trap from user mode.
    pub far: u64,
    pub fp: FpState,
    /// x0 as it was when the last system call entered the kernel (Linux's `orig_x0`): the
    /// return value overwrites x0, and restarting the call needs the original argument back.
    pub orig_x0: u64,
    /// Linux's `thread.fault_address` / `thread.fault_code`: the address and (sanitised)
    /// ESR of the last fault that was reported to the program as a signal. Signal frames carry
    /// them (`sigcontext.fault_address`, the `esr_context` record); see `signal.rs`.
    pub fault_address: u64,
    pub fault_code: u64,
}

/// Byte offsets used by the assembly.
pub const OFFSET_X: usize = 0;
pub const OFFSET_SP: usize = 248;
pub const OFFSET_PC: usize = 256;
pub const OFFSET_PSTATE: usize = 264;
pub const OFFSET_TPIDR: usize = 272;
pub const OFFSET_ESR: usize = 280;
pub const OFFSET_FAR: usize = 288;
pub const OFFSET_FP: usize = 304;
pub const OFFSET_FPCR: usize = OFFSET_FP + 512;
pub const OFFSET_FPSR: usize = OFFSET_FP + 520;

const _: () = {
    assert!(core::mem::offset_of!(Context, x) == OFFSET_X);
    assert!(core::mem::offset_of!(Context, sp) == OFFSET_SP);
    assert!(core::mem::offset_of!(Context, pc) == OFFSET_PC);
    assert!(core::mem::offset_of!(Context, pstate) == OFFSET_PSTATE);
    assert!(core::mem::offset_of!(Context, tpidr_el0) == OFFSET_TPIDR);
    assert!(core::mem::offset_of!(Context, esr) == OFFSET_ESR);
    assert!(core::mem::offset_of!(Context, far) == OFFSET_FAR);
    assert!(core::mem::offset_of!(Context, fp) == OFFSET_FP);
    assert!(core::mem::offset_of!(FpState, fpcr) == 512);
    assert!(core::mem::offset_of!(FpState, fpsr) == 520);
};

/// PSTATE.{N,Z,C,V}: the only bits user mode may carry across a trap. Everything else is forced:
/// M[3:0] = 0 (EL0t, AArch64), DAIF clear (interrupts reach the kernel), no single-step, no
/// illegal-state, so a corrupted context can never enter anything but plain EL0.
pub const PSTATE_NZCV: u64 = 0xf000_0000;

pub const fn sanitize_pstate(pstate: u64) -> u64 {
    pstate & PSTATE_NZCV
}

impl UserContext for Context {
    fn new(entry: u64, stack_pointer: u64) -> Self {
        Self {
            x: [0; 31],
            sp: stack_pointer,
            pc: entry,
            pstate: 0,
            tpidr_el0: 0,
            esr: 0,
            far: 0,
            fp: FpState::default(),
            orig_x0: 0,
            fault_address: 0,
            fault_code: 0,
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
        self.x[8]
    }
    fn syscall_args(&self) -> [u64; 6] {
        [
            self.x[0], self.x[1], self.x[2], self.x[3], self.x[4], self.x[5],
        ]
    }
    fn set_syscall_return(&mut self, value: u64) {
        self.x[0] = value;
    }
    fn thread_pointer(&self) -> u64 {
        self.tpidr_el0
    }
    fn set_thread_pointer(&mut self, tp: u64) {
        self.tpidr_el0 = tp;
    }
    /// TPIDRRO_EL0 is read-only at EL0 and Linux gives programs no way to set it.
    fn alternate_thread_pointer(&self) -> Option<u64> {
        None
    }
    fn set_alternate_thread_pointer(&mut self, _value: u64) -> bool {
        false
    }
    /// Back to the `svc #0` (always 4 bytes: EL0 is AArch64 only) with x0 as it was at entry.
    /// x8 and x1..x5 still hold the number and the other arguments: only x0 carries results.
    fn restart_syscall(&mut self) {
        self.pc = self.pc.wrapping_sub(4);
        self.x[0] = self.orig_x0;
    }
}

impl Context {
    /// Records what a system call entry must remember (called on every `svc` from EL0).
    pub fn enter_syscall(&mut self) {
        self.orig_x0 = self.x[0];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_context_starts_clean_at_el0() {
        let c = Context::new(0x40_1000, 0x7fff_f000);
        assert_eq!(c.pc(), 0x40_1000);
        assert_eq!(c.stack_pointer(), 0x7fff_f000);
        assert_eq!(c.x, [0; 31]);
        assert_eq!(c.pstate, 0);
        assert_eq!(c.thread_pointer(), 0);
        assert_eq!(c.fp, FpState::default());
    }

    #[test]
    fn syscall_registers_follow_the_linux_arm64_convention() {
        let mut c = Context::new(0, 0);
        for (i, r) in c.x.iter_mut().enumerate() {
            *r = 100 + i as u64;
        }
        assert_eq!(c.syscall_number(), 108);
        assert_eq!(c.syscall_args(), [100, 101, 102, 103, 104, 105]);
        c.set_syscall_return((-14i64) as u64);
        assert_eq!(c.x[0] as i64, -14);
        assert_eq!(c.x[1], 101);
        c.set_thread_pointer(0xdead_b000);
        assert_eq!(c.tpidr_el0, 0xdead_b000);
    }

    #[test]
    fn restart_rewinds_to_the_svc_with_the_original_x0() {
        // A read(fd=3, buf, 100) that was interrupted: the svc was at 0x40_1000, so the trap
        // left pc at 0x40_1004, and the core stored -EINTR (or a partial result) in x0.
        let mut c = Context::new(0x40_1000, 0x7fff_0000);
        c.x[8] = 63;
        c.x[0] = 3;
        c.x[1] = 0x7fff_1000;
        c.x[2] = 100;
        c.pc = 0x40_1004;
        c.enter_syscall();
        c.set_syscall_return((-4i64) as u64);
        c.restart_syscall();
        assert_eq!(c.pc, 0x40_1000);
        assert_eq!(c.syscall_number(), 63);
        assert_eq!(c.syscall_args()[..3], [3, 0x7fff_1000, 100]);
        // A new syscall entry records the new x0.
        c.pc = 0x40_2004;
        c.x[0] = 7;
        c.enter_syscall();
        c.set_syscall_return(0);
        c.restart_syscall();
        assert_eq!((c.pc, c.x[0]), (0x40_2000, 7));
    }

    #[test]
    fn pstate_sanitising_keeps_only_flags() {
        // EL1h, DAIF masked, SS, IL, and all four flags set.
        let hostile = 0x3c5 | (1 << 21) | (1 << 20) | 0xf000_0000;
        assert_eq!(sanitize_pstate(hostile), 0xf000_0000);
        assert_eq!(sanitize_pstate(0x4), 0);
    }
}

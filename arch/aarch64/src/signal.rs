//! Linux's arm64 signal frame (`arch/arm64/kernel/signal.c`, uapi `asm/sigcontext.h` and
//! `asm/ucontext.h`), byte for byte: building it when a handler runs (`push`) and checking and
//! unwinding it in `rt_sigreturn` (`pop`). Also the other per-arch argument conventions the core
//! meets at the arch boundary: clone(2)'s register order and the sigreturn trampoline. Pure code
//! over `hal::mmu::AddressSpace`, so the layout is tested on the host against Linux's offsets.
//!
//! The frame, from the lowest address (the handler's sp) up:
//!
//! ```text
//! sp + 0     struct rt_sigframe {
//!              siginfo_t info;                      128 bytes
//! sp + 128     struct ucontext uc {
//!                u64 uc_flags; u64 uc_link;         0, 0
//!                stack_t uc_stack;                  ss_sp, ss_flags (int), ss_size
//!                sigset_t uc_sigmask;               8 bytes, then padding to 128 bytes
//! sp + 304       struct sigcontext uc_mcontext {    16-byte aligned
//!                  u64 fault_address; u64 regs[31]; u64 sp, pc, pstate;
//! sp + 592         u8 __reserved[4096];             records: fpsimd_context (528 bytes),
//!                }                                  esr_context (16) after a fault, then {0, 0}
//!              }
//!            }                                      4688 bytes
//! sp + 4688  struct frame_record { u64 fp, lr; }    the interrupted x29/x30, x29 points here
//! ```

use crate::context::{self, Context, FpState};
use crate::fault::ec;
use hal::mmu::{AddressSpace, BadUserAddress};
use hal::signal::{AltStack, SignalDelivery, SignalReturn};
use hal::user::CloneArgs;

/// Sizes and offsets of Linux's arm64 signal-frame structures.
pub mod layout {
    /// `sizeof(siginfo_t)`.
    pub const SIGINFO_SIZE: usize = 128;
    /// `offsetof(struct rt_sigframe, uc)`.
    pub const UC: usize = SIGINFO_SIZE;
    /// Offsets inside `struct ucontext`.
    pub const UC_FLAGS: usize = 0;
    pub const UC_LINK: usize = 8;
    pub const UC_STACK: usize = 16;
    pub const UC_SIGMASK: usize = 40;
    /// `uc_mcontext`: after the 1024-bit (glibc-sized) signal mask, 16-byte aligned.
    pub const UC_MCONTEXT: usize = 176;
    /// Offsets inside `stack_t`.
    pub const SS_SP: usize = 0;
    pub const SS_FLAGS: usize = 8;
    pub const SS_SIZE: usize = 16;
    /// Offsets inside `struct sigcontext`.
    pub const SC_FAULT_ADDRESS: usize = 0;
    pub const SC_REGS: usize = 8;
    pub const SC_SP: usize = 256;
    pub const SC_PC: usize = 264;
    pub const SC_PSTATE: usize = 272;
    pub const SC_RESERVED: usize = 288;
    pub const SC_RESERVED_SIZE: usize = 4096;
    pub const SIGCONTEXT_SIZE: usize = SC_RESERVED + SC_RESERVED_SIZE;
    pub const UCONTEXT_SIZE: usize = UC_MCONTEXT + SIGCONTEXT_SIZE;
    /// `sizeof(struct rt_sigframe)` (already a multiple of 16).
    pub const RT_SIGFRAME_SIZE: usize = UC + UCONTEXT_SIZE;
    /// `sizeof(struct frame_record)`.
    pub const FRAME_RECORD_SIZE: usize = 16;
    /// Frame offsets of the sigcontext and of its record area.
    pub const MCONTEXT: usize = UC + UC_MCONTEXT;
    pub const RESERVED: usize = MCONTEXT + SC_RESERVED;

    /// `struct fpsimd_context`: head {magic, size}, u32 fpsr, u32 fpcr, __uint128_t vregs[32].
    pub const FPSIMD_MAGIC: u32 = 0x4650_8001;
    pub const FPSIMD_SIZE: usize = 528;
    pub const FPSIMD_FPSR: usize = 8;
    pub const FPSIMD_FPCR: usize = 12;
    pub const FPSIMD_VREGS: usize = 16;
    /// `struct esr_context`: head, u64 esr.
    pub const ESR_MAGIC: u32 = 0x4553_5201;
    pub const ESR_SIZE: usize = 16;
    /// The terminating `_aarch64_ctx` {0, 0}, rounded up to 16 bytes.
    pub const TERMINATOR_SIZE: usize = 16;
}

use layout::*;

/// `sa_flags` bit: the handler takes (signo, siginfo, ucontext).
pub const SA_SIGINFO: u64 = 4;

const SIGILL: u32 = 4;
const SIGBUS: u32 = 7;
const SIGFPE: u32 = 8;
const SIGSEGV: u32 = 11;
/// `si_code` of signals the kernel raises for no particular fault.
const SI_KERNEL: i32 = 0x80;

/// PSTATE bits a handler must not start with: BTYPE (branch-target state of the interrupted
/// code) and TCO (tag-check override), cleared as Linux's `setup_return` does.
const PSTATE_BTYPE: u64 = 0b11 << 10;
const PSTATE_TCO: u64 = 1 << 25;
/// PSTATE bits that make a sigreturn frame invalid (Linux's `valid_native_regs`): any mode but
/// EL0t (M[3:0]), AArch32 (M[4]), and masked D, A, I or F.
const PSTATE_NOT_EL0T: u64 = 0xf | (1 << 4) | (0xf << 6);

/// `mov x8, #139` (`__NR_rt_sigreturn`); `svc #0` — Linux's vDSO `__kernel_rt_sigreturn`.
pub const SIGRETURN_TRAMPOLINE: [u8; 8] = {
    let mov = 0xd280_0000u32 | (139 << 5) | 8;
    let svc = 0xd400_0001u32;
    let (a, b) = (mov.to_le_bytes(), svc.to_le_bytes());
    [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
};

/// clone(2) on arm64 uses the CLONE_BACKWARDS order: flags, stack, parent_tid, tls, child_tid.
pub fn clone_args(raw: [u64; 6]) -> CloneArgs {
    CloneArgs {
        flags: raw[0],
        stack: raw[1],
        parent_tid: raw[2],
        tls: raw[3],
        child_tid: raw[4],
    }
}

fn put_u32(buf: &mut [u8], at: usize, value: u32) {
    buf[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(buf: &mut [u8], at: usize, value: u64) {
    buf[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

fn get_u32(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}

fn get_u64(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

/// True when the delivery is the kernel reporting a fault of the thread itself (a signal
/// that Linux sends through `arm64_force_sig_fault` and friends): a fault signal with a positive
/// fault `si_code`, not one a program sent with kill (SI_USER, SI_TKILL, SI_QUEUE are <= 0).
fn reports_a_fault(delivery: &SignalDelivery) -> bool {
    let code = i32::from_le_bytes([
        delivery.info[8],
        delivery.info[9],
        delivery.info[10],
        delivery.info[11],
    ]);
    matches!(delivery.signal, SIGILL | SIGBUS | SIGFPE | SIGSEGV) && code > 0 && code != SI_KERNEL
}

/// Linux's `set_thread_esr` / `arm64_notify_die`: what the thread's fault record becomes when a
/// fault signal is sent for the exception in `context.esr` / `context.far`.
fn record_fault(context: &mut Context) {
    let esr = context.esr;
    let class = (esr >> 26) & 0x3f;
    match class {
        ec::DATA_ABORT_LOWER | ec::INSTRUCTION_ABORT_LOWER => {
            context.fault_address = context.far;
            context.fault_code = if context.far < crate::paging::USER_END {
                esr
            } else {
                // Kernel addresses do not exist for user space: report a level-0 translation
                // fault, keeping only what the program knows already (EC, IL, and for data
                // aborts CM and WnR).
                const IL: u64 = 1 << 25;
                const CM: u64 = 1 << 8;
                const WNR: u64 = 1 << 6;
                const FSC_TRANSLATION_L0: u64 = 0x04;
                let keep = if class == ec::DATA_ABORT_LOWER {
                    (0x3f << 26) | IL | CM | WNR
                } else {
                    (0x3f << 26) | IL
                };
                (esr & keep) | FSC_TRANSLATION_L0
            };
        }
        // A fault the kernel raises while handling a system call (a bad sigreturn frame)
        // carries no exception syndrome.
        ec::SVC64 => {
            context.fault_address = 0;
            context.fault_code = 0;
        }
        _ => {
            context.fault_address = 0;
            context.fault_code = esr;
        }
    }
}

/// Bytes written for one delivery: the rt_sigframe and the frame record above it.
const FRAME_BYTES: usize = RT_SIGFRAME_SIZE + FRAME_RECORD_SIZE;

/// Where a frame for a handler goes below `stack_pointer` (Linux's `get_sigframe`): the frame
/// record 16-byte aligned just below it, the rt_sigframe right below that. Returns
/// (rt_sigframe address, frame record address).
pub fn frame_addresses(stack_pointer: u64) -> Option<(u64, u64)> {
    let record = stack_pointer.checked_sub(FRAME_RECORD_SIZE as u64)? & !15;
    let frame = record.checked_sub(RT_SIGFRAME_SIZE as u64)?;
    Some((frame, record))
}

/// Builds the frame for `delivery` below `delivery.stack_pointer` and enters the handler:
/// x0 = signal, with SA_SIGINFO x1 = &info and x2 = &uc, sp = the frame, x29 = the frame
/// record, x30 = the restorer, pc = the handler. Nothing changes if the frame cannot be written.
pub fn push<S: AddressSpace>(
    context: &mut Context,
    space: &S,
    delivery: &SignalDelivery,
) -> Result<(), BadUserAddress> {
    let Some((frame, record)) = frame_addresses(delivery.stack_pointer) else {
        return Err(BadUserAddress {
            address: delivery.stack_pointer,
        });
    };
    let mut updated = context.clone();
    if reports_a_fault(delivery) {
        record_fault(&mut updated);
    }

    let mut buf = [0u8; FRAME_BYTES];
    let siginfo = delivery.flags & SA_SIGINFO != 0;
    if siginfo {
        buf[..SIGINFO_SIZE].copy_from_slice(&delivery.info);
    }
    // uc_flags and uc_link stay 0.
    let stack = UC + UC_STACK;
    put_u64(&mut buf, stack + SS_SP, delivery.alt_stack.sp);
    put_u32(&mut buf, stack + SS_FLAGS, delivery.alt_stack.flags);
    put_u64(&mut buf, stack + SS_SIZE, delivery.alt_stack.size);
    put_u64(&mut buf, UC + UC_SIGMASK, delivery.saved_mask);

    put_u64(&mut buf, MCONTEXT + SC_FAULT_ADDRESS, updated.fault_address);
    for (i, &reg) in context.x.iter().enumerate() {
        put_u64(&mut buf, MCONTEXT + SC_REGS + 8 * i, reg);
    }
    put_u64(&mut buf, MCONTEXT + SC_SP, context.sp);
    put_u64(&mut buf, MCONTEXT + SC_PC, context.pc);
    put_u64(&mut buf, MCONTEXT + SC_PSTATE, context.pstate);

    let mut at = RESERVED;
    put_u32(&mut buf, at, FPSIMD_MAGIC);
    put_u32(&mut buf, at + 4, FPSIMD_SIZE as u32);
    // The architectural FPSR and FPCR are 32 bits wide (upper halves RES0).
    put_u32(&mut buf, at + FPSIMD_FPSR, context.fp.fpsr as u32);
    put_u32(&mut buf, at + FPSIMD_FPCR, context.fp.fpcr as u32);
    for (i, v) in context.fp.v.iter().enumerate() {
        let reg = at + FPSIMD_VREGS + 16 * i;
        put_u64(&mut buf, reg, v[0]);
        put_u64(&mut buf, reg + 8, v[1]);
    }
    at += FPSIMD_SIZE;
    if updated.fault_code != 0 {
        put_u32(&mut buf, at, ESR_MAGIC);
        put_u32(&mut buf, at + 4, ESR_SIZE as u32);
        put_u64(&mut buf, at + 8, updated.fault_code);
        at += ESR_SIZE;
    }
    // The terminator record {0, 0} is already zero; `at` is where it lies.
    debug_assert!(at + TERMINATOR_SIZE <= RESERVED + SC_RESERVED_SIZE);

    put_u64(&mut buf, RT_SIGFRAME_SIZE, context.x[29]);
    put_u64(&mut buf, RT_SIGFRAME_SIZE + 8, context.x[30]);

    space.write_user(frame, &buf, false)?;

    updated.x[0] = u64::from(delivery.signal);
    if siginfo {
        updated.x[1] = frame;
        updated.x[2] = frame + UC as u64;
    }
    updated.sp = frame;
    updated.x[29] = record;
    updated.x[30] = delivery.restorer;
    updated.pc = delivery.handler;
    updated.pstate &= !(PSTATE_BTYPE | PSTATE_TCO);
    *context = updated;
    Ok(())
}

/// `rt_sigreturn`: restores x0..x30, sp, pc, pstate and the FP/SIMD registers from the frame at
/// the current sp, with Linux's checks: sp 16-byte aligned, the frame readable, pstate a plain
/// EL0t state with no exception masked, and a well-formed record list holding exactly one
/// `fpsimd_context` of the right size (an `esr_context` is ignored; anything else, including
/// `extra_context`, which Cyphera never emits, is refused). Any failure leaves the context
/// untouched and is reported at the frame's address, for the core to raise SIGSEGV.
pub fn pop<S: AddressSpace>(
    context: &mut Context,
    space: &S,
) -> Result<SignalReturn, BadUserAddress> {
    let sp = context.sp;
    let bad = BadUserAddress { address: sp };
    if !sp.is_multiple_of(16) {
        return Err(bad);
    }
    let mut buf = [0u8; RT_SIGFRAME_SIZE];
    space.read_user(sp, &mut buf)?;

    let pstate = get_u64(&buf, MCONTEXT + SC_PSTATE);
    if pstate & PSTATE_NOT_EL0T != 0 {
        return Err(bad);
    }
    let fpsimd = find_fpsimd(&buf).ok_or(bad)?;

    let mut restored = context.clone();
    for (i, reg) in restored.x.iter_mut().enumerate() {
        *reg = get_u64(&buf, MCONTEXT + SC_REGS + 8 * i);
    }
    restored.sp = get_u64(&buf, MCONTEXT + SC_SP);
    restored.pc = get_u64(&buf, MCONTEXT + SC_PC);
    restored.pstate = context::sanitize_pstate(pstate);
    let mut fp = FpState {
        fpsr: u64::from(get_u32(&buf, fpsimd + FPSIMD_FPSR)),
        fpcr: u64::from(get_u32(&buf, fpsimd + FPSIMD_FPCR)),
        ..FpState::default()
    };
    for (i, v) in fp.v.iter_mut().enumerate() {
        let reg = fpsimd + FPSIMD_VREGS + 16 * i;
        *v = [get_u64(&buf, reg), get_u64(&buf, reg + 8)];
    }
    restored.fp = fp;

    let stack = UC + UC_STACK;
    let result = SignalReturn {
        saved_mask: get_u64(&buf, UC + UC_SIGMASK),
        alt_stack: AltStack {
            sp: get_u64(&buf, stack + SS_SP),
            flags: get_u32(&buf, stack + SS_FLAGS),
            size: get_u64(&buf, stack + SS_SIZE),
        },
    };
    *context = restored;
    Ok(result)
}

/// Walks the record list in `__reserved` the way Linux's `parse_user_sigframe` does; returns
/// the frame offset of the one valid `fpsimd_context`.
fn find_fpsimd(frame: &[u8]) -> Option<usize> {
    let limit = SC_RESERVED_SIZE;
    let mut offset = 0usize;
    let mut fpsimd = None;
    loop {
        if limit - offset < 8 || !offset.is_multiple_of(16) {
            return None;
        }
        let head = RESERVED + offset;
        let magic = get_u32(frame, head);
        let size = get_u32(frame, head + 4) as usize;
        if limit - offset < size {
            return None;
        }
        match magic {
            0 if size == 0 => break,
            FPSIMD_MAGIC if fpsimd.is_none() && size == FPSIMD_SIZE => fpsimd = Some(head),
            ESR_MAGIC => {}
            _ => return None,
        }
        if size < 8 {
            return None;
        }
        offset += size;
    }
    fpsimd
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paging::UserSpace;
    use crate::paging::test_support::Frames;
    use hal::mmu::{PAGE_SIZE, PageFlags};
    use hal::user::UserContext;

    /// Linux's structures, transcribed from the uapi headers, so the compiler computes the
    /// offsets the hand-written constants must match.
    #[repr(C)]
    struct StackT {
        ss_sp: u64,
        ss_flags: i32,
        ss_size: u64,
    }
    #[repr(C, align(16))]
    struct Reserved([u8; 4096]);
    #[repr(C)]
    struct Sigcontext {
        fault_address: u64,
        regs: [u64; 31],
        sp: u64,
        pc: u64,
        pstate: u64,
        reserved: Reserved,
    }
    #[repr(C)]
    struct Ucontext {
        uc_flags: u64,
        uc_link: u64,
        uc_stack: StackT,
        uc_sigmask: u64,
        unused: [u8; 1024 / 8 - 8],
        uc_mcontext: Sigcontext,
    }
    #[repr(C)]
    struct Siginfo([u64; 16]);
    #[repr(C)]
    struct RtSigframe {
        info: Siginfo,
        uc: Ucontext,
    }
    #[repr(C, align(16))]
    struct U128([u64; 2]);
    #[repr(C)]
    struct FpsimdContext {
        magic: u32,
        size: u32,
        fpsr: u32,
        fpcr: u32,
        vregs: [U128; 32],
    }

    #[test]
    fn constants_match_the_linux_structures() {
        use core::mem::{offset_of, size_of};
        assert_eq!(size_of::<StackT>(), 24);
        assert_eq!(offset_of!(StackT, ss_flags), SS_FLAGS);
        assert_eq!(offset_of!(StackT, ss_size), SS_SIZE);
        assert_eq!(offset_of!(Sigcontext, fault_address), SC_FAULT_ADDRESS);
        assert_eq!(offset_of!(Sigcontext, regs), SC_REGS);
        assert_eq!(offset_of!(Sigcontext, sp), SC_SP);
        assert_eq!(offset_of!(Sigcontext, pc), SC_PC);
        assert_eq!(offset_of!(Sigcontext, pstate), SC_PSTATE);
        assert_eq!(offset_of!(Sigcontext, reserved), SC_RESERVED);
        assert_eq!(size_of::<Sigcontext>(), SIGCONTEXT_SIZE);
        assert_eq!(offset_of!(Ucontext, uc_flags), UC_FLAGS);
        assert_eq!(offset_of!(Ucontext, uc_link), UC_LINK);
        assert_eq!(offset_of!(Ucontext, uc_stack), UC_STACK);
        assert_eq!(offset_of!(Ucontext, uc_sigmask), UC_SIGMASK);
        assert_eq!(offset_of!(Ucontext, uc_mcontext), UC_MCONTEXT);
        // sizeof(struct ucontext) on arm64.
        assert_eq!(size_of::<Ucontext>(), 4560);
        assert_eq!(UCONTEXT_SIZE, 4560);
        assert_eq!(offset_of!(RtSigframe, uc), UC);
        assert_eq!(size_of::<RtSigframe>(), RT_SIGFRAME_SIZE);
        assert_eq!(RT_SIGFRAME_SIZE, 4688);
        assert_eq!(RT_SIGFRAME_SIZE % 16, 0);
        assert_eq!(
            offset_of!(RtSigframe, uc) + offset_of!(Ucontext, uc_mcontext),
            MCONTEXT
        );
        assert_eq!(RESERVED, 592);
        assert_eq!(size_of::<FpsimdContext>(), FPSIMD_SIZE);
        assert_eq!(offset_of!(FpsimdContext, fpsr), FPSIMD_FPSR);
        assert_eq!(offset_of!(FpsimdContext, fpcr), FPSIMD_FPCR);
        assert_eq!(offset_of!(FpsimdContext, vregs), FPSIMD_VREGS);
    }

    #[test]
    fn trampoline_is_mov_x8_139_svc_0() {
        let mov = u32::from_le_bytes(SIGRETURN_TRAMPOLINE[..4].try_into().unwrap());
        let svc = u32::from_le_bytes(SIGRETURN_TRAMPOLINE[4..].try_into().unwrap());
        // MOVZ Xd, #imm16: sf=1 opc=10 100101 hw=00.
        assert_eq!(mov >> 23, 0b1_1010_0101, "MOVZ, 64-bit");
        assert_eq!((mov >> 21) & 3, 0);
        assert_eq!((mov >> 5) & 0xffff, 139);
        assert_eq!(mov & 0x1f, 8);
        assert_eq!(svc, 0xd400_0001);
        assert_eq!(
            SIGRETURN_TRAMPOLINE,
            [0x68, 0x11, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4]
        );
    }

    #[test]
    fn clone_arguments_are_in_clone_backwards_order() {
        let args = clone_args([0x3d0f00, 0x7000_0000, 0x1111, 0x2222, 0x3333, 0x4444]);
        assert_eq!(
            args,
            CloneArgs {
                flags: 0x3d0f00,
                stack: 0x7000_0000,
                parent_tid: 0x1111,
                tls: 0x2222,
                child_tid: 0x3333,
            }
        );
    }

    const STACK_TOP: u64 = 0x7fff_0000;
    const STACK_PAGES: u64 = 4;

    /// A user space with a small read-write stack below STACK_TOP.
    fn setup() -> (Frames, UserSpace) {
        let mut frames = Frames::new(32);
        let mut space = UserSpace::new(&mut frames).unwrap();
        for i in 1..=STACK_PAGES {
            space
                .map_zeroed(
                    STACK_TOP - i * PAGE_SIZE,
                    PageFlags::READ_WRITE,
                    &mut frames,
                )
                .unwrap();
        }
        (frames, space)
    }

    fn interrupted() -> Context {
        let mut c = Context::new(0x40_1234, STACK_TOP - 0x100);
        for (i, r) in c.x.iter_mut().enumerate() {
            *r = 0x1000 + i as u64;
        }
        c.pc = 0x40_1238;
        c.pstate = 0x6000_0000 | PSTATE_BTYPE;
        c.tpidr_el0 = 0xabcd_0000;
        for (i, v) in c.fp.v.iter_mut().enumerate() {
            *v = [0x1111_0000 + i as u64, 0x2222_0000 + i as u64];
        }
        c.fp.fpcr = 0x0300_0000;
        c.fp.fpsr = 0x0800_0010;
        c
    }

    fn delivery(signal: u32, flags: u64, sp: u64) -> SignalDelivery {
        let mut info = [0u8; 128];
        info[..4].copy_from_slice(&signal.to_le_bytes());
        info[8..12].copy_from_slice(&(-6i32).to_le_bytes()); // SI_TKILL
        SignalDelivery {
            signal,
            info,
            handler: 0x40_8000,
            flags,
            restorer: 0x7fff_f000,
            stack_pointer: sp,
            on_alternate_stack: false,
            saved_mask: 0x8000_0000_0000_0001,
            alt_stack: AltStack {
                sp: 0x6000_0000,
                flags: 2,
                size: 0x2000,
            },
        }
    }

    fn read(space: &UserSpace, va: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        space.read_user(va, &mut buf).unwrap();
        buf
    }

    #[test]
    fn frame_layout_matches_linux() {
        let (mut frames, space) = setup();
        let before = interrupted();
        let mut c = before.clone();
        // An unaligned interrupted sp: the frame record is 16-byte aligned below it.
        let d = delivery(10, SA_SIGINFO, STACK_TOP - 0x109);
        push(&mut c, &space, &d).unwrap();

        let record = (STACK_TOP - 0x109 - 16) & !15;
        let frame = record - 4688;
        assert_eq!(frame % 16, 0);
        assert_eq!(c.sp, frame);
        assert_eq!(c.x[0], 10);
        assert_eq!(c.x[1], frame);
        assert_eq!(c.x[2], frame + 128);
        assert_eq!(c.x[29], record);
        assert_eq!(c.x[30], 0x7fff_f000);
        assert_eq!(c.pc, 0x40_8000);
        assert_eq!(c.pstate & PSTATE_BTYPE, 0);
        assert_eq!(c.pstate & 0xf000_0000, 0x6000_0000);
        assert_eq!(c.x[3..29], before.x[3..29]);
        assert_eq!(
            c.fp, before.fp,
            "the handler starts with the interrupted FP state"
        );
        assert_eq!(c.tpidr_el0, before.tpidr_el0);

        let bytes = read(&space, frame, 4688 + 16);
        let u64_at = |at: usize| get_u64(&bytes, at);
        let u32_at = |at: usize| get_u32(&bytes, at);
        assert_eq!(&bytes[..128], &d.info[..]);
        assert_eq!(u64_at(128), 0, "uc_flags");
        assert_eq!(u64_at(136), 0, "uc_link");
        assert_eq!(u64_at(144), 0x6000_0000, "uc_stack.ss_sp");
        assert_eq!(u32_at(152), 2, "uc_stack.ss_flags");
        assert_eq!(u64_at(160), 0x2000, "uc_stack.ss_size");
        assert_eq!(u64_at(168), 0x8000_0000_0000_0001, "uc_sigmask");
        assert_eq!(u64_at(304), 0, "fault_address");
        for i in 0..31 {
            assert_eq!(u64_at(312 + 8 * i), 0x1000 + i as u64, "regs[{i}]");
        }
        assert_eq!(u64_at(560), before.sp, "sp");
        assert_eq!(u64_at(568), 0x40_1238, "pc");
        assert_eq!(u64_at(576), before.pstate, "pstate");
        assert_eq!(u32_at(592), 0x4650_8001, "fpsimd magic");
        assert_eq!(u32_at(596), 528, "fpsimd size");
        assert_eq!(u32_at(600), 0x0800_0010, "fpsr");
        assert_eq!(u32_at(604), 0x0300_0000, "fpcr");
        assert_eq!(u64_at(608), 0x1111_0000, "v0 low");
        assert_eq!(u64_at(616), 0x2222_0000, "v0 high");
        assert_eq!(u64_at(608 + 16 * 31 + 8), 0x2222_001f, "v31 high");
        assert_eq!((u32_at(1120), u32_at(1124)), (0, 0), "terminator");
        assert_eq!(u64_at(4688), 0x1000 + 29, "frame record fp");
        assert_eq!(u64_at(4696), 0x1000 + 30, "frame record lr");
        space.destroy(&mut frames);
    }

    #[test]
    fn without_sa_siginfo_only_x0_is_an_argument() {
        let (mut frames, space) = setup();
        let mut c = interrupted();
        push(&mut c, &space, &delivery(2, 0, STACK_TOP)).unwrap();
        assert_eq!((c.x[0], c.x[1], c.x[2]), (2, 0x1001, 0x1002));
        assert!(read(&space, c.sp, 128).iter().all(|&b| b == 0));
        assert_eq!(c.sp, STACK_TOP - 16 - 4688);
        space.destroy(&mut frames);
    }

    #[test]
    fn push_then_pop_restores_everything() {
        let (mut frames, space) = setup();
        let before = interrupted();
        let mut c = before.clone();
        push(&mut c, &space, &delivery(12, SA_SIGINFO, before.sp)).unwrap();
        // The handler runs and clobbers registers, including FP state.
        c.x = [0xdead; 31];
        c.fp.v[7] = [1, 2];
        c.fp.fpcr = 0;
        let ret = pop(&mut c, &space).unwrap();
        let mut expected = before.clone();
        expected.pstate = context::sanitize_pstate(before.pstate);
        assert_eq!(c, expected);
        assert_eq!(ret.saved_mask, 0x8000_0000_0000_0001);
        assert_eq!(
            ret.alt_stack,
            AltStack {
                sp: 0x6000_0000,
                flags: 2,
                size: 0x2000
            }
        );
        space.destroy(&mut frames);
    }

    #[test]
    fn a_handler_may_edit_the_context() {
        let (mut frames, space) = setup();
        let mut c = interrupted();
        push(&mut c, &space, &delivery(11, SA_SIGINFO, STACK_TOP)).unwrap();
        let uc = c.x[2];
        let mc = uc + UC_MCONTEXT as u64;
        // Skip the faulting instruction, set x0, change NZCV, a vector register, the mask.
        space
            .write_user(mc + SC_PC as u64, &0x40_2000u64.to_le_bytes(), false)
            .unwrap();
        space
            .write_user(mc + SC_REGS as u64, &77u64.to_le_bytes(), false)
            .unwrap();
        space
            .write_user(mc + SC_PSTATE as u64, &0x8000_0000u64.to_le_bytes(), false)
            .unwrap();
        space
            .write_user(mc + SC_RESERVED as u64 + 16 + 16 * 3, &[0x5a; 16], false)
            .unwrap();
        space
            .write_user(uc + UC_SIGMASK as u64, &0x400u64.to_le_bytes(), false)
            .unwrap();
        let ret = pop(&mut c, &space).unwrap();
        assert_eq!(c.pc, 0x40_2000);
        assert_eq!(c.x[0], 77);
        assert_eq!(c.pstate, 0x8000_0000);
        assert_eq!(c.fp.v[3], [0x5a5a_5a5a_5a5a_5a5a; 2]);
        assert_eq!(ret.saved_mask, 0x400);
        space.destroy(&mut frames);
    }

    /// Pushes a frame, lets `tamper` edit it, and returns pop's verdict; on failure the
    /// context must be exactly as it was before pop.
    fn pop_after(tamper: impl FnOnce(&UserSpace, u64)) -> Result<SignalReturn, BadUserAddress> {
        let (mut frames, space) = setup();
        let mut c = interrupted();
        push(&mut c, &space, &delivery(10, SA_SIGINFO, STACK_TOP)).unwrap();
        tamper(&space, c.sp);
        let before = c.clone();
        let result = pop(&mut c, &space);
        if result.is_err() {
            assert_eq!(c, before);
        }
        space.destroy(&mut frames);
        result
    }

    fn put32(space: &UserSpace, va: u64, value: u32) {
        space.write_user(va, &value.to_le_bytes(), false).unwrap();
    }

    #[test]
    fn hostile_pstates_are_refused() {
        let pstate_at = |frame: u64| frame + (MCONTEXT + SC_PSTATE) as u64;
        for bad in [0x5u64, 0x4, 0x10, 0x80, 0x40, 0x200, 0x100, 0x3c5] {
            let r = pop_after(|s, f| {
                s.write_user(pstate_at(f), &bad.to_le_bytes(), false)
                    .unwrap()
            });
            assert!(r.is_err(), "pstate {bad:#x} accepted");
        }
        // Flags and other user-settable bits are fine.
        assert!(
            pop_after(|s, f| {
                s.write_user(pstate_at(f), &0xf000_0000u64.to_le_bytes(), false)
                    .unwrap()
            })
            .is_ok()
        );
    }

    #[test]
    fn malformed_records_are_refused() {
        let rec = |f: u64| f + RESERVED as u64;
        // No fpsimd record at all: the list starts with the terminator.
        assert!(pop_after(|s, f| put32(s, rec(f), 0)).is_err());
        // Wrong fpsimd size.
        assert!(pop_after(|s, f| put32(s, rec(f) + 4, 512)).is_err());
        // Unknown magic where the terminator was.
        assert!(pop_after(|s, f| put32(s, rec(f) + 528, 0x1234_5678)).is_err());
        // A terminator with a size.
        assert!(pop_after(|s, f| put32(s, rec(f) + 528 + 4, 16)).is_err());
        // extra_context (EXTRA_MAGIC) is never emitted and refused.
        assert!(
            pop_after(|s, f| {
                put32(s, rec(f) + 528, 0x4558_5401);
                put32(s, rec(f) + 528 + 4, 32);
            })
            .is_err()
        );
        // A second fpsimd record.
        assert!(
            pop_after(|s, f| {
                put32(s, rec(f) + 528, FPSIMD_MAGIC);
                put32(s, rec(f) + 528 + 4, 528);
            })
            .is_err()
        );
        // A record running past the end of __reserved.
        assert!(
            pop_after(|s, f| {
                put32(s, rec(f) + 528, ESR_MAGIC);
                put32(s, rec(f) + 528 + 4, 4096);
            })
            .is_err()
        );
        // A record size that is not a multiple of 16 misaligns the next one.
        assert!(
            pop_after(|s, f| {
                put32(s, rec(f) + 528, ESR_MAGIC);
                put32(s, rec(f) + 528 + 4, 24);
            })
            .is_err()
        );
        // A record smaller than its header.
        assert!(
            pop_after(|s, f| {
                put32(s, rec(f) + 528, ESR_MAGIC);
                put32(s, rec(f) + 528 + 4, 0);
            })
            .is_err()
        );
        // An esr record followed by the terminator is accepted.
        assert!(
            pop_after(|s, f| {
                put32(s, rec(f) + 528, ESR_MAGIC);
                put32(s, rec(f) + 528 + 4, 16);
            })
            .is_ok()
        );
        // Garbage after the terminator does not matter.
        assert!(pop_after(|s, f| put32(s, rec(f) + 1000, 0xffff_ffff)).is_ok());
    }

    #[test]
    fn bad_stack_pointers_fail_without_side_effects() {
        let (mut frames, space) = setup();
        let before = interrupted();
        // Misaligned sp at sigreturn.
        let mut c = before.clone();
        c.sp = STACK_TOP - 0x1008;
        assert_eq!(
            pop(&mut c, &space),
            Err(BadUserAddress {
                address: STACK_TOP - 0x1008
            })
        );
        // A frame that does not fit in the mapped stack: push writes nothing, pop reads nothing.
        let low = STACK_TOP - STACK_PAGES * PAGE_SIZE + 0x100;
        let mut c = before.clone();
        assert!(push(&mut c, &space, &delivery(10, SA_SIGINFO, low)).is_err());
        assert_eq!(c, before);
        assert!(
            read(&space, STACK_TOP - STACK_PAGES * PAGE_SIZE, 0x100)
                .iter()
                .all(|&b| b == 0)
        );
        c.sp = low & !15;
        assert!(pop(&mut c, &space).is_err());
        // Stack pointers near zero or in the kernel half.
        let mut c = before.clone();
        assert!(push(&mut c, &space, &delivery(10, 0, 0x100)).is_err());
        assert!(push(&mut c, &space, &delivery(10, 0, 0xffff_0000_0000_1000)).is_err());
        assert_eq!(c, before);
        c.sp = 0xffff_ffff_ffff_fff0;
        assert!(pop(&mut c, &space).is_err());
        space.destroy(&mut frames);
    }

    #[test]
    fn fault_signals_carry_the_fault_address_and_esr() {
        let (mut frames, space) = setup();
        let mut c = interrupted();
        // A write to an unmapped page: data abort from EL0, level-3 translation fault, WnR.
        let esr = (ec::DATA_ABORT_LOWER << 26) | (1 << 25) | (1 << 6) | 0x07;
        c.esr = esr;
        c.far = 0x1234;
        let mut d = delivery(11, SA_SIGINFO, STACK_TOP);
        d.info[8..12].copy_from_slice(&1i32.to_le_bytes()); // SEGV_MAPERR
        push(&mut c, &space, &d).unwrap();
        let frame = c.sp;
        let bytes = read(&space, frame, RT_SIGFRAME_SIZE);
        assert_eq!(get_u64(&bytes, MCONTEXT + SC_FAULT_ADDRESS), 0x1234);
        assert_eq!(get_u32(&bytes, RESERVED + 528), ESR_MAGIC);
        assert_eq!(get_u32(&bytes, RESERVED + 532), 16);
        assert_eq!(get_u64(&bytes, RESERVED + 536), esr);
        assert_eq!(get_u64(&bytes, RESERVED + 544), 0, "terminator");
        // sigreturn accepts the frame with its esr record.
        pop(&mut c, &space).unwrap();

        // The record persists into later frames, as Linux's thread.fault_code does; a signal
        // sent by a program does not change it.
        c.esr = 0x5600_0000; // an svc
        c.far = 0;
        push(&mut c, &space, &delivery(10, SA_SIGINFO, STACK_TOP)).unwrap();
        let bytes = read(&space, c.sp, RT_SIGFRAME_SIZE);
        assert_eq!(get_u64(&bytes, MCONTEXT + SC_FAULT_ADDRESS), 0x1234);
        assert_eq!(get_u64(&bytes, RESERVED + 536), esr);
        pop(&mut c, &space).unwrap();

        // A fault on a kernel address reports a sanitised level-0 translation fault.
        c.esr = (ec::DATA_ABORT_LOWER << 26) | (1 << 25) | (1 << 24) | (1 << 6) | 0x0f;
        c.far = 0xffff_0000_0000_0000;
        push(&mut c, &space, &d).unwrap();
        let bytes = read(&space, c.sp, RT_SIGFRAME_SIZE);
        assert_eq!(
            get_u64(&bytes, RESERVED + 536),
            (ec::DATA_ABORT_LOWER << 26) | (1 << 25) | (1 << 6) | 0x04
        );
        space.destroy(&mut frames);
    }

    #[test]
    fn a_fresh_thread_has_no_esr_record() {
        let (mut frames, space) = setup();
        let mut c = interrupted();
        c.esr = (ec::DATA_ABORT_LOWER << 26) | 0x07;
        c.far = 0x5000;
        // kill(getpid(), SIGSEGV): si_code SI_USER (0) is not a fault report.
        let mut d = delivery(11, SA_SIGINFO, STACK_TOP);
        d.info[8..12].copy_from_slice(&0i32.to_le_bytes());
        push(&mut c, &space, &d).unwrap();
        let bytes = read(&space, c.sp, RT_SIGFRAME_SIZE);
        assert_eq!(get_u64(&bytes, MCONTEXT + SC_FAULT_ADDRESS), 0);
        assert_eq!(
            get_u64(&bytes, RESERVED + 528),
            0,
            "terminator right after fpsimd"
        );
        assert_eq!(c.fault_code, 0);
        space.destroy(&mut frames);
    }
}

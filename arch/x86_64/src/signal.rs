//! The x86_64 Linux signal frame: `struct rt_sigframe` (return address, `struct ucontext` with
//! its `struct sigcontext`, `siginfo_t`) and the 512-byte `fxsave` image below it, built by
//! [`push_signal_frame`] and taken apart again by [`pop_signal_frame`] (`rt_sigreturn`).
//!
//! Layout, placement and register conventions follow Linux (arch/x86/kernel/signal.c
//! `get_sigframe`, signal_64.c `x64_setup_rt_frame` / `rt_sigreturn`, uapi asm/sigcontext.h,
//! asm-generic/ucontext.h), so that programs which read or edit `uc_mcontext` in a handler, and
//! unwinders which recognise the frame, see exactly what they would on Linux. The kernel does
//! not enable XSAVE (see `cpu.rs`), so the FP state is the legacy `fxsave` image without
//! `FP_XSTATE_MAGIC1`, and `uc_flags` lacks `UC_FP_XSTATE`, as Linux does on a CPU without XSAVE.
//!
//! Everything here works on any [`AddressSpace`] and is host-tested.

use crate::context::selectors::{USER_CODE, USER_DATA};
use crate::context::{Context, FX_SIZE, FX_SW_RESERVED, FxState, rflags, sanitize_rflags};
use hal::mmu::{AddressSpace, BadUserAddress};
use hal::signal::{AltStack, SignalDelivery, SignalReturn};

/// Byte offsets in `struct rt_sigframe` (x86_64), checked against a transcription of the Linux
/// headers in the tests.
pub mod layout {
    /// `char *pretcode`: where the handler's `ret` goes (the restorer).
    pub const PRETCODE: usize = 0;
    /// `struct ucontext uc`.
    pub const UC: usize = 8;
    pub const UC_FLAGS: usize = UC;
    pub const UC_LINK: usize = UC + 8;
    /// `stack_t uc_stack`: `void *ss_sp; int ss_flags; size_t ss_size`.
    pub const UC_STACK_SP: usize = UC + 16;
    pub const UC_STACK_FLAGS: usize = UC + 24;
    pub const UC_STACK_SIZE: usize = UC + 32;
    /// `struct sigcontext uc_mcontext`.
    pub const MCONTEXT: usize = UC + 40;
    /// `sigset_t uc_sigmask` (the kernel's 64-bit sigset).
    pub const UC_SIGMASK: usize = MCONTEXT + SIGCONTEXT_SIZE;
    pub const UCONTEXT_SIZE: usize = UC_SIGMASK + 8 - UC;
    /// `struct siginfo info`.
    pub const INFO: usize = UC + UCONTEXT_SIZE;
    pub const INFO_SIZE: usize = 128;
    pub const FRAME_SIZE: usize = INFO + INFO_SIZE;

    /// Offsets inside `struct sigcontext`.
    pub mod sc {
        pub const R8: usize = 0;
        pub const R9: usize = 8;
        pub const R10: usize = 16;
        pub const R11: usize = 24;
        pub const R12: usize = 32;
        pub const R13: usize = 40;
        pub const R14: usize = 48;
        pub const R15: usize = 56;
        pub const RDI: usize = 64;
        pub const RSI: usize = 72;
        pub const RBP: usize = 80;
        pub const RBX: usize = 88;
        pub const RDX: usize = 96;
        pub const RAX: usize = 104;
        pub const RCX: usize = 112;
        pub const RSP: usize = 120;
        pub const RIP: usize = 128;
        pub const EFLAGS: usize = 136;
        pub const CS: usize = 144;
        pub const GS: usize = 146;
        pub const FS: usize = 148;
        /// `ss` (named `__pad0` before Linux 4.6, when UC_SIGCONTEXT_SS was introduced).
        pub const SS: usize = 150;
        pub const ERR: usize = 152;
        pub const TRAPNO: usize = 160;
        pub const OLDMASK: usize = 168;
        pub const CR2: usize = 176;
        pub const FPSTATE: usize = 184;
        /// `__u64 reserved1[8]`.
        pub const RESERVED1: usize = 192;
    }
    pub const SIGCONTEXT_SIZE: usize = 256;
}

/// `uc_flags` bits (arch/x86/include/uapi/asm/ucontext.h).
pub const UC_FP_XSTATE: u64 = 0x1;
pub const UC_SIGCONTEXT_SS: u64 = 0x2;
pub const UC_STRICT_RESTORE_SS: u64 = 0x4;
/// What Linux writes for a 64-bit program on a CPU without XSAVE (`frame_uc_flags`).
pub const UC_FLAGS: u64 = UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;

/// `sa_flags` bit: the handler takes `(int, siginfo_t *, void *)`; only then is `info` written.
pub const SA_SIGINFO: u64 = 0x4;
/// `sa_restorer` is valid (uapi asm-generic/signal-defs.h).
pub const SA_RESTORER: u64 = 0x0400_0000;
/// `ss_flags` bits.
pub const SS_DISABLE: u32 = 2;
pub const SS_AUTODISARM: u32 = 1 << 31;

/// The x86_64 ABI's red zone: 128 bytes below rsp that leaf functions use without moving rsp.
pub const RED_ZONE: u64 = 128;

/// `rt_sigreturn` on x86_64.
pub const NR_RT_SIGRETURN: u32 = 15;

/// Linux's `__restore_rt`: `mov rax, 15; syscall`, byte for byte. Unwinders (libgcc's
/// `x86_64_fallback_frame_state`, gdb) recognise a signal frame by exactly these 9 bytes at the
/// return address, so the shorter `mov eax, 15` encoding is not used.
pub const SIGRETURN_TRAMPOLINE: [u8; 9] = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];

/// rflags bits `rt_sigreturn` takes from the frame (Linux's FIX_EFLAGS on x86_64); the others
/// stay as they are.
const SIGRETURN_FLAGS: u64 = rflags::AC
    | rflags::OF
    | rflags::DF
    | rflags::TF
    | rflags::SF
    | rflags::ZF
    | rflags::AF
    | rflags::PF
    | rflags::CF;

/// Where a frame goes: the `fxsave` image at `fpstate` (64-byte aligned), the `rt_sigframe` at
/// `frame` (`frame + 8` 16-byte aligned, as at a function's entry after the call pushed the
/// return address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub frame: u64,
    pub fpstate: u64,
}

/// Linux's `get_sigframe` for a 64-bit frame: skip the red zone (unless the stack pointer is a
/// fresh alternate stack's top), the FP state 64-byte aligned below, then the frame.
pub fn place(delivery: &SignalDelivery) -> Option<Placement> {
    let mut sp = delivery.stack_pointer;
    if !delivery.on_alternate_stack {
        sp = sp.checked_sub(RED_ZONE)?;
    }
    let fpstate = sp.checked_sub(FX_SIZE as u64)? & !63;
    let frame = (fpstate.checked_sub(layout::FRAME_SIZE as u64)? & !15).checked_sub(8)?;
    Some(Placement { frame, fpstate })
}

/// Linux's `__on_sig_stack` for a downward-growing stack.
fn on_stack(alt: &AltStack, sp: u64) -> bool {
    sp > alt.sp && sp - alt.sp <= alt.size
}

fn put_u64(buf: &mut [u8], offset: usize, value: u64) {
    buf[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
}

fn put_u32(buf: &mut [u8], offset: usize, value: u32) {
    buf[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u16(buf: &mut [u8], offset: usize, value: u16) {
    buf[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
}

fn get_u64(buf: &[u8], offset: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&buf[offset..offset + 8]);
    u64::from_le_bytes(bytes)
}

fn get_u32(buf: &[u8], offset: usize) -> u32 {
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&buf[offset..offset + 4]);
    u32::from_le_bytes(bytes)
}

/// The bytes of the `rt_sigframe` for `context` (the interrupted registers) at `placement`.
pub fn frame_bytes(
    context: &Context,
    delivery: &SignalDelivery,
    placement: Placement,
) -> [u8; layout::FRAME_SIZE] {
    use layout::sc;
    let mut f = [0u8; layout::FRAME_SIZE];
    put_u64(&mut f, layout::PRETCODE, delivery.restorer);
    put_u64(&mut f, layout::UC_FLAGS, UC_FLAGS);
    put_u64(&mut f, layout::UC_LINK, 0);
    put_u64(&mut f, layout::UC_STACK_SP, delivery.alt_stack.sp);
    put_u32(&mut f, layout::UC_STACK_FLAGS, delivery.alt_stack.flags);
    put_u64(&mut f, layout::UC_STACK_SIZE, delivery.alt_stack.size);
    let m = layout::MCONTEXT;
    for (offset, value) in [
        (sc::R8, context.r8),
        (sc::R9, context.r9),
        (sc::R10, context.r10),
        (sc::R11, context.r11),
        (sc::R12, context.r12),
        (sc::R13, context.r13),
        (sc::R14, context.r14),
        (sc::R15, context.r15),
        (sc::RDI, context.rdi),
        (sc::RSI, context.rsi),
        (sc::RBP, context.rbp),
        (sc::RBX, context.rbx),
        (sc::RDX, context.rdx),
        (sc::RAX, context.rax),
        (sc::RCX, context.rcx),
        (sc::RSP, context.rsp),
        (sc::RIP, context.rip),
        (sc::EFLAGS, context.rflags),
        (sc::ERR, context.error_code),
        (sc::TRAPNO, context.trap_nr),
        (sc::OLDMASK, delivery.saved_mask),
        (sc::CR2, context.cr2),
        (sc::FPSTATE, placement.fpstate),
    ] {
        put_u64(&mut f, m + offset, value);
    }
    put_u16(&mut f, m + sc::CS, USER_CODE);
    put_u16(&mut f, m + sc::GS, 0);
    put_u16(&mut f, m + sc::FS, 0);
    put_u16(&mut f, m + sc::SS, USER_DATA);
    put_u64(&mut f, layout::UC_SIGMASK, delivery.saved_mask);
    f[layout::INFO..].copy_from_slice(&delivery.info);
    f
}

/// Builds the signal frame for `delivery` on the user stack and points `context` at the
/// handler: rdi = signal, rsi = &info, rdx = &uc, rax = 0, rsp = frame (whose first word is the
/// restorer, the handler's return address), DF and TF cleared, and a fresh FP state (Linux's
/// `fpu__clear_user_states`).
///
/// On failure the error names the first byte that could not be written (an unmapped, read-only
/// or not-yet-populated page, a stack pointer too close to 0, or an alternate stack too small
/// for the frame). `context` is then unchanged, so the caller may resolve a fault at that
/// address (stack growth, demand paging, copy-on-write) and call again, or deliver SIGSEGV.
pub fn push_signal_frame<S: AddressSpace>(
    context: &mut Context,
    space: &S,
    delivery: &SignalDelivery,
) -> Result<(), BadUserAddress> {
    let bad = BadUserAddress {
        address: delivery.stack_pointer,
    };
    // x86_64 Linux has no default restorer for 64-bit handlers: without SA_RESTORER the frame
    // cannot be set up and the thread gets SIGSEGV (`x64_setup_rt_frame` returns -EFAULT).
    if delivery.flags & SA_RESTORER == 0 {
        return Err(bad);
    }
    let placement = place(delivery).ok_or(bad)?;
    // Linux refuses (SIGSEGV) a frame that would not fit on the alternate stack it is on or
    // switching to, rather than overflow it into whatever lies below.
    let alt = &delivery.alt_stack;
    let nested = !delivery.on_alternate_stack
        && alt.size != 0
        && alt.flags & (SS_DISABLE | SS_AUTODISARM) == 0
        && on_stack(alt, delivery.stack_pointer);
    if (delivery.on_alternate_stack || nested) && !on_stack(alt, placement.frame) {
        return Err(BadUserAddress {
            address: placement.frame,
        });
    }

    let mut fx = *context.fx.bytes();
    fx[FX_SW_RESERVED..].fill(0);
    space.write_user(placement.fpstate, &fx, false)?;
    let frame = frame_bytes(context, delivery, placement);
    // Linux writes `info` only for SA_SIGINFO handlers.
    let len = if delivery.flags & SA_SIGINFO != 0 {
        layout::FRAME_SIZE
    } else {
        layout::INFO
    };
    space.write_user(placement.frame, &frame[..len], false)?;

    context.rdi = u64::from(delivery.signal);
    context.rsi = placement.frame + layout::INFO as u64;
    context.rdx = placement.frame + layout::UC as u64;
    context.rax = 0;
    context.rip = delivery.handler;
    context.rsp = placement.frame;
    context.rflags &= !(rflags::DF | rflags::TF);
    context.fx = FxState::initial();
    Ok(())
}

/// `rt_sigreturn`: the handler's `ret` popped the frame's return address, so the frame starts
/// 8 bytes below rsp. Restores every general register, rip and the user-changeable rflags
/// bits, and the FP state from the frame's `fpstate` pointer (0: a fresh state, as on Linux).
/// Returns the saved signal mask and alternate stack for the core to apply.
///
/// Fails (nothing changed; the caller delivers SIGSEGV, or resolves a fault at the named
/// address and calls again) if the ucontext or FP image cannot be read, or if the FP image is
/// one `fxrstor` would refuse (misaligned, or MXCSR reserved bits set).
pub fn pop_signal_frame<S: AddressSpace>(
    context: &mut Context,
    space: &S,
    mxcsr_mask: u32,
) -> Result<SignalReturn, BadUserAddress> {
    use layout::sc;
    let frame = context.rsp.wrapping_sub(8);
    // Only the ucontext is read, as on Linux: the return address is spent and `info` is not
    // consulted.
    let uc_start = frame.wrapping_add(layout::UC as u64);
    let mut uc = [0u8; layout::UCONTEXT_SIZE];
    space.read_user(uc_start, &mut uc)?;
    // Offsets below are frame offsets; `uc` starts at layout::UC.
    let at = |offset: usize| offset - layout::UC;
    let reg = |offset: usize| get_u64(&uc, at(layout::MCONTEXT + offset));

    let fpstate = reg(sc::FPSTATE);
    let fx = if fpstate == 0 {
        FxState::initial()
    } else {
        let bad = BadUserAddress { address: fpstate };
        // `fxrstor` from a misaligned address raises #GP on Linux: a bad frame.
        if !fpstate.is_multiple_of(16) {
            return Err(bad);
        }
        let mut image = [0u8; FX_SIZE];
        space.read_user(fpstate, &mut image)?;
        FxState::from_user(&image, mxcsr_mask).ok_or(bad)?
    };

    let saved_mask = get_u64(&uc, at(layout::UC_SIGMASK));
    let alt_stack = AltStack {
        sp: get_u64(&uc, at(layout::UC_STACK_SP)),
        flags: get_u32(&uc, at(layout::UC_STACK_FLAGS)),
        size: get_u64(&uc, at(layout::UC_STACK_SIZE)),
    };

    context.r8 = reg(sc::R8);
    context.r9 = reg(sc::R9);
    context.r10 = reg(sc::R10);
    context.r11 = reg(sc::R11);
    context.r12 = reg(sc::R12);
    context.r13 = reg(sc::R13);
    context.r14 = reg(sc::R14);
    context.r15 = reg(sc::R15);
    context.rdi = reg(sc::RDI);
    context.rsi = reg(sc::RSI);
    context.rbp = reg(sc::RBP);
    context.rbx = reg(sc::RBX);
    context.rdx = reg(sc::RDX);
    context.rax = reg(sc::RAX);
    context.rcx = reg(sc::RCX);
    context.rsp = reg(sc::RSP);
    context.rip = reg(sc::RIP);
    context.rflags =
        sanitize_rflags((context.rflags & !SIGRETURN_FLAGS) | (reg(sc::EFLAGS) & SIGRETURN_FLAGS));
    // cs and ss are not taken from the frame: only 64-bit user mode exists here.
    // rax now holds the interrupted code's value, not a syscall number to restart.
    context.orig_rax = u64::MAX;
    context.fx = fx;
    Ok(SignalReturn {
        saved_mask,
        alt_stack,
    })
}

/// clone(2)'s x86_64 register order: flags, stack, parent_tid, child_tid, tls.
pub fn clone_args(raw: [u64; 6]) -> hal::user::CloneArgs {
    hal::user::CloneArgs {
        flags: raw[0],
        stack: raw[1],
        parent_tid: raw[2],
        child_tid: raw[3],
        tls: raw[4],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{DEFAULT_MXCSR_MASK, FX_MXCSR};
    use crate::paging::UserSpace;
    use core::mem::{offset_of, size_of};
    use hal::mmu::{FrameAllocator, PageFlags};
    use hal::user::UserContext;

    /// Transcription of the Linux uapi structures (asm/sigcontext.h `struct sigcontext` for
    /// x86_64, asm-generic/ucontext.h `struct ucontext`, asm/signal.h `stack_t`, and
    /// asm/sigframe.h `struct rt_sigframe`), to check the byte offsets above against.
    #[allow(dead_code)]
    #[repr(C)]
    struct LinuxSigcontext {
        r8: u64,
        r9: u64,
        r10: u64,
        r11: u64,
        r12: u64,
        r13: u64,
        r14: u64,
        r15: u64,
        rdi: u64,
        rsi: u64,
        rbp: u64,
        rbx: u64,
        rdx: u64,
        rax: u64,
        rcx: u64,
        rsp: u64,
        rip: u64,
        eflags: u64,
        cs: u16,
        gs: u16,
        fs: u16,
        ss: u16,
        err: u64,
        trapno: u64,
        oldmask: u64,
        cr2: u64,
        fpstate: u64,
        reserved1: [u64; 8],
    }
    #[allow(dead_code)]
    #[repr(C)]
    struct LinuxStack {
        ss_sp: u64,
        ss_flags: i32,
        ss_size: u64,
    }
    #[allow(dead_code)]
    #[repr(C)]
    struct LinuxUcontext {
        uc_flags: u64,
        uc_link: u64,
        uc_stack: LinuxStack,
        uc_mcontext: LinuxSigcontext,
        uc_sigmask: u64,
    }
    #[allow(dead_code)]
    #[repr(C)]
    struct LinuxRtSigframe {
        pretcode: u64,
        uc: LinuxUcontext,
        info: [u64; 16],
    }

    #[test]
    fn layout_matches_the_linux_headers() {
        assert_eq!(size_of::<LinuxSigcontext>(), 256);
        assert_eq!(layout::SIGCONTEXT_SIZE, 256);
        assert_eq!(size_of::<LinuxUcontext>(), 304);
        assert_eq!(layout::UCONTEXT_SIZE, 304);
        assert_eq!(size_of::<LinuxRtSigframe>(), 440);
        assert_eq!(layout::FRAME_SIZE, 440);
        type F = LinuxRtSigframe;
        type U = LinuxUcontext;
        assert_eq!(layout::PRETCODE, offset_of!(F, pretcode));
        assert_eq!(layout::UC, offset_of!(F, uc));
        assert_eq!(layout::INFO, offset_of!(F, info));
        assert_eq!(layout::INFO, 312);
        let uc = layout::UC;
        assert_eq!(layout::UC_FLAGS, uc + offset_of!(U, uc_flags));
        assert_eq!(layout::UC_LINK, uc + offset_of!(U, uc_link));
        let st = uc + offset_of!(U, uc_stack);
        assert_eq!(layout::UC_STACK_SP, st + offset_of!(LinuxStack, ss_sp));
        assert_eq!(
            layout::UC_STACK_FLAGS,
            st + offset_of!(LinuxStack, ss_flags)
        );
        assert_eq!(layout::UC_STACK_SIZE, st + offset_of!(LinuxStack, ss_size));
        assert_eq!(layout::MCONTEXT, uc + offset_of!(U, uc_mcontext));
        assert_eq!(layout::UC_SIGMASK, uc + offset_of!(U, uc_sigmask));
        type S = LinuxSigcontext;
        use layout::sc;
        let pairs = [
            (sc::R8, offset_of!(S, r8)),
            (sc::R9, offset_of!(S, r9)),
            (sc::R10, offset_of!(S, r10)),
            (sc::R11, offset_of!(S, r11)),
            (sc::R12, offset_of!(S, r12)),
            (sc::R13, offset_of!(S, r13)),
            (sc::R14, offset_of!(S, r14)),
            (sc::R15, offset_of!(S, r15)),
            (sc::RDI, offset_of!(S, rdi)),
            (sc::RSI, offset_of!(S, rsi)),
            (sc::RBP, offset_of!(S, rbp)),
            (sc::RBX, offset_of!(S, rbx)),
            (sc::RDX, offset_of!(S, rdx)),
            (sc::RAX, offset_of!(S, rax)),
            (sc::RCX, offset_of!(S, rcx)),
            (sc::RSP, offset_of!(S, rsp)),
            (sc::RIP, offset_of!(S, rip)),
            (sc::EFLAGS, offset_of!(S, eflags)),
            (sc::CS, offset_of!(S, cs)),
            (sc::GS, offset_of!(S, gs)),
            (sc::FS, offset_of!(S, fs)),
            (sc::SS, offset_of!(S, ss)),
            (sc::ERR, offset_of!(S, err)),
            (sc::TRAPNO, offset_of!(S, trapno)),
            (sc::OLDMASK, offset_of!(S, oldmask)),
            (sc::CR2, offset_of!(S, cr2)),
            (sc::FPSTATE, offset_of!(S, fpstate)),
            (sc::RESERVED1, offset_of!(S, reserved1)),
        ];
        for (ours, linux) in pairs {
            assert_eq!(ours, linux);
        }
        // glibc's mcontext_t.gregs[] indices (REG_R8 = 0 .. REG_CR2 = 22) are these offsets / 8.
        assert_eq!(sc::RIP / 8, 16);
        assert_eq!(sc::CR2 / 8, 22);
    }

    fn delivery(sp: u64) -> SignalDelivery {
        let mut info = [0u8; 128];
        for (i, b) in info.iter_mut().enumerate() {
            *b = i as u8 ^ 0x5a;
        }
        SignalDelivery {
            signal: 10,
            info,
            handler: 0x40_1000,
            flags: SA_SIGINFO | SA_RESTORER,
            restorer: 0x40_2000,
            stack_pointer: sp,
            on_alternate_stack: false,
            saved_mask: 0x8000_0000_0000_4001,
            alt_stack: AltStack {
                sp: 0,
                flags: SS_DISABLE,
                size: 0,
            },
        }
    }

    #[test]
    fn placement_follows_get_sigframe() {
        // Linux: sp -= 128; fp = round_down(sp - 512, 64); frame = round_down(fp - 440, 16) - 8.
        for sp in [0x7fff_f000u64, 0x7fff_effd, 0x7fff_ef88, 0x10_0000 + 7] {
            let p = place(&delivery(sp)).unwrap();
            let fp = (sp - 128 - 512) & !63;
            assert_eq!(p.fpstate, fp);
            assert_eq!(p.frame, ((fp - 440) & !15) - 8);
            assert_eq!((p.frame + 8) % 16, 0);
            assert!(p.frame + 440 <= p.fpstate);
            assert!(p.fpstate + 512 <= sp - 128);
        }
        // A fresh alternate stack has no red zone to skip.
        let mut d = delivery(0x60_0000);
        d.on_alternate_stack = true;
        let p = place(&d).unwrap();
        assert_eq!(p.fpstate, 0x60_0000 - 512);
        // Stack pointers too close to 0 cannot hold a frame.
        assert_eq!(place(&delivery(600)), None);
        assert_eq!(place(&delivery(100)), None);
    }

    /// Host frames: host heap pages, "physical address" = host address.
    struct HostFrames(Vec<u64>);
    impl FrameAllocator for HostFrames {
        fn allocate_frame(&mut self) -> Option<u64> {
            let layout = std::alloc::Layout::from_size_align(4096, 4096).unwrap();
            // SAFETY: non-zero size.
            let p = unsafe { std::alloc::alloc_zeroed(layout) } as u64;
            self.0.push(p);
            Some(p)
        }
        fn free_frame(&mut self, frame: u64) {
            let layout = std::alloc::Layout::from_size_align(4096, 4096).unwrap();
            self.0.retain(|&f| f != frame);
            // SAFETY: allocated above with the same layout.
            unsafe { std::alloc::dealloc(frame as *mut u8, layout) };
        }
    }

    const STACK_TOP: u64 = 0x7000_0000;

    fn stack_space(frames: &mut HostFrames) -> UserSpace {
        let mut s = UserSpace::new(frames).unwrap();
        for page in 1..=4 {
            s.map_zeroed(STACK_TOP - page * 4096, PageFlags::READ_WRITE, frames)
                .unwrap();
        }
        s
    }

    fn interrupted() -> Context {
        let mut c = Context::new(0x40_5000, STACK_TOP - 0x100);
        let regs = [
            &mut c.rax, &mut c.rbx, &mut c.rcx, &mut c.rdx, &mut c.rsi, &mut c.rdi, &mut c.rbp,
            &mut c.r8, &mut c.r9, &mut c.r10, &mut c.r11, &mut c.r12, &mut c.r13, &mut c.r14,
            &mut c.r15,
        ];
        for (i, r) in regs.into_iter().enumerate() {
            *r = 0x1111_0000_0000_0000 * (i as u64 + 1) + i as u64;
        }
        c.rflags = rflags::IF | rflags::RESERVED_ONE | rflags::CF | rflags::DF | rflags::TF;
        c.trap_nr = 14;
        c.error_code = 6;
        c.cr2 = 0xdead_b000;
        c.orig_rax = 0;
        let mut fx = *c.fx.bytes();
        fx[160..176].copy_from_slice(&[0xab; 16]); // xmm0
        c.fx = FxState::from_user(&fx, DEFAULT_MXCSR_MASK).unwrap();
        c
    }

    fn read(space: &UserSpace, va: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        space.read_user(va, &mut v).unwrap();
        v
    }

    fn u64_at(space: &UserSpace, va: u64) -> u64 {
        u64::from_le_bytes(read(space, va, 8).try_into().unwrap())
    }

    #[test]
    fn pushed_frame_has_linux_contents_and_handler_registers() {
        let mut frames = HostFrames(Vec::new());
        let space = stack_space(&mut frames);
        let before = interrupted();
        let mut c = before.clone();
        let d = delivery(c.rsp);
        push_signal_frame(&mut c, &space, &d).unwrap();
        let p = place(&d).unwrap();

        // Handler entry registers.
        assert_eq!(c.rsp, p.frame);
        assert_eq!(c.rip, d.handler);
        assert_eq!(c.rdi, 10);
        assert_eq!(c.rsi, p.frame + 312);
        assert_eq!(c.rdx, p.frame + 8);
        assert_eq!(c.rax, 0);
        assert_eq!(c.rflags & (rflags::DF | rflags::TF), 0);
        assert_ne!(c.rflags & rflags::CF, 0);
        assert_eq!(c.fx.bytes(), FxState::initial().bytes());
        assert_eq!(c.rbx, before.rbx, "callee registers are left alone");

        // The frame in user memory.
        let m = p.frame + layout::MCONTEXT as u64;
        assert_eq!(u64_at(&space, p.frame), d.restorer);
        assert_eq!(u64_at(&space, p.frame + 8), 6, "uc_flags");
        assert_eq!(u64_at(&space, p.frame + 16), 0, "uc_link");
        assert_eq!(u64_at(&space, p.frame + 24), 0);
        assert_eq!(read(&space, p.frame + 32, 4), SS_DISABLE.to_le_bytes());
        assert_eq!(u64_at(&space, m), before.r8);
        assert_eq!(u64_at(&space, m + 56), before.r15);
        assert_eq!(u64_at(&space, m + 64), before.rdi);
        assert_eq!(u64_at(&space, m + 104), before.rax);
        assert_eq!(u64_at(&space, m + 112), before.rcx);
        assert_eq!(u64_at(&space, m + 120), before.rsp);
        assert_eq!(u64_at(&space, m + 128), before.rip);
        assert_eq!(u64_at(&space, m + 136), before.rflags);
        assert_eq!(
            read(&space, m + 144, 8),
            [0x33, 0, 0, 0, 0, 0, 0x2b, 0],
            "cs, gs, fs, ss as on Linux"
        );
        assert_eq!(u64_at(&space, m + 152), 6, "err");
        assert_eq!(u64_at(&space, m + 160), 14, "trapno");
        assert_eq!(u64_at(&space, m + 168), d.saved_mask, "oldmask");
        assert_eq!(u64_at(&space, m + 176), 0xdead_b000, "cr2");
        assert_eq!(u64_at(&space, m + 184), p.fpstate);
        assert_eq!(read(&space, m + 192, 64), vec![0; 64]);
        assert_eq!(u64_at(&space, p.frame + 304), d.saved_mask, "uc_sigmask");
        assert_eq!(read(&space, p.frame + 312, 128), d.info.to_vec());
        let fx = read(&space, p.fpstate, 512);
        assert_eq!(&fx[..], &before.fx.bytes()[..]);
        assert_eq!(&fx[160..176], &[0xab; 16]);
        assert_eq!(
            &fx[464..],
            &[0; 48],
            "no FP_XSTATE_MAGIC1: legacy fxsave frame"
        );
    }

    #[test]
    fn info_is_written_only_for_siginfo_handlers() {
        let mut frames = HostFrames(Vec::new());
        let space = stack_space(&mut frames);
        let mut c = interrupted();
        let mut d = delivery(c.rsp);
        d.flags = SA_RESTORER;
        let p = place(&d).unwrap();
        space
            .write_user(p.frame + 312, &[0xee; 128], false)
            .unwrap();
        push_signal_frame(&mut c, &space, &d).unwrap();
        assert_eq!(read(&space, p.frame + 312, 128), vec![0xee; 128]);
        assert_eq!(
            c.rsi,
            p.frame + 312,
            "rsi still points at info, as on Linux"
        );
    }

    #[test]
    fn sigreturn_restores_the_interrupted_state() {
        let mut frames = HostFrames(Vec::new());
        let space = stack_space(&mut frames);
        let before = interrupted();
        let mut c = before.clone();
        let mut d = delivery(c.rsp);
        d.alt_stack = AltStack {
            sp: 0x5000_0000,
            flags: 0,
            size: 0x8000,
        };
        push_signal_frame(&mut c, &space, &d).unwrap();
        // The handler runs, clobbers registers and FP state, then `ret`s into the restorer.
        c.rbx = 1;
        c.r15 = 2;
        c.rflags |= rflags::ZF;
        c.fx = FxState::initial();
        c.rsp += 8;
        c.orig_rax = 15;
        let r = pop_signal_frame(&mut c, &space, DEFAULT_MXCSR_MASK).unwrap();
        assert_eq!(r.saved_mask, d.saved_mask);
        assert_eq!(r.alt_stack, d.alt_stack);
        for (got, want) in [
            (c.rax, before.rax),
            (c.rbx, before.rbx),
            (c.rcx, before.rcx),
            (c.rdx, before.rdx),
            (c.rsi, before.rsi),
            (c.rdi, before.rdi),
            (c.rbp, before.rbp),
            (c.rsp, before.rsp),
            (c.r8, before.r8),
            (c.r11, before.r11),
            (c.r15, before.r15),
            (c.rip, before.rip),
        ] {
            assert_eq!(got, want);
        }
        // DF/TF/CF come back from the frame, ZF too (it was clear there).
        assert_eq!(c.rflags, before.rflags);
        assert_eq!(c.fx.bytes(), before.fx.bytes());
        assert_eq!(c.orig_rax, u64::MAX, "a sigreturn is never restarted");
        c.restart_syscall();
        assert_eq!(c.rip, before.rip);
    }

    #[test]
    fn handler_edits_are_applied_but_sanitised() {
        let mut frames = HostFrames(Vec::new());
        let space = stack_space(&mut frames);
        let mut c = interrupted();
        let d = delivery(c.rsp);
        push_signal_frame(&mut c, &space, &d).unwrap();
        let m = c.rsp + layout::MCONTEXT as u64;
        // The handler skips the faulting instruction, sets IOPL 3, clears IF, sets NT and AC,
        // and asks for a kernel code segment.
        space
            .write_user(m + 128, &0x40_5004u64.to_le_bytes(), false)
            .unwrap();
        let evil = rflags::IOPL | rflags::NT | rflags::AC | rflags::RF;
        space
            .write_user(m + 136, &evil.to_le_bytes(), false)
            .unwrap();
        space
            .write_user(m + 144, &0x08u16.to_le_bytes(), false)
            .unwrap();
        c.rsp += 8;
        pop_signal_frame(&mut c, &space, DEFAULT_MXCSR_MASK).unwrap();
        assert_eq!(c.rip, 0x40_5004);
        assert_eq!(
            c.rflags,
            rflags::AC | rflags::IF | rflags::RESERVED_ONE,
            "only the user-changeable bits are taken"
        );
    }

    #[test]
    fn bad_fp_state_is_a_bad_frame() {
        let mut frames = HostFrames(Vec::new());
        let space = stack_space(&mut frames);
        let mut c = interrupted();
        let d = delivery(c.rsp);
        push_signal_frame(&mut c, &space, &d).unwrap();
        let p = place(&d).unwrap();
        c.rsp += 8;
        let handler_state = c.clone();

        // MXCSR with a reserved bit: fxrstor would #GP in the kernel.
        let bad_mxcsr = 0x1f80u32 | (1 << 20);
        space
            .write_user(p.fpstate + FX_MXCSR as u64, &bad_mxcsr.to_le_bytes(), false)
            .unwrap();
        assert_eq!(
            pop_signal_frame(&mut c, &space, DEFAULT_MXCSR_MASK),
            Err(BadUserAddress { address: p.fpstate })
        );
        assert_eq!(
            c.rip, handler_state.rip,
            "nothing restored from a bad frame"
        );
        // DAZ is refused by a CPU whose mask lacks it, accepted by one that has it.
        let daz = 0x1f80u32 | 0x40;
        space
            .write_user(p.fpstate + FX_MXCSR as u64, &daz.to_le_bytes(), false)
            .unwrap();
        assert!(pop_signal_frame(&mut c.clone(), &space, 0xffbf).is_err());
        let mut ok = c.clone();
        pop_signal_frame(&mut ok, &space, 0xffff).unwrap();
        assert_eq!(ok.fx.mxcsr(), daz);

        // Misaligned or unmapped fpstate pointers.
        let fp_field = p.frame + (layout::MCONTEXT + layout::sc::FPSTATE) as u64;
        for pointer in [p.fpstate + 8, 0x1000_0000] {
            space
                .write_user(fp_field, &pointer.to_le_bytes(), false)
                .unwrap();
            assert!(pop_signal_frame(&mut c, &space, DEFAULT_MXCSR_MASK).is_err());
        }
        // A null fpstate asks for a fresh FP state.
        space
            .write_user(fp_field, &0u64.to_le_bytes(), false)
            .unwrap();
        pop_signal_frame(&mut c, &space, DEFAULT_MXCSR_MASK).unwrap();
        assert_eq!(c.fx.bytes(), FxState::initial().bytes());
    }

    #[test]
    fn unwritable_stacks_fail_without_touching_the_context() {
        let mut frames = HostFrames(Vec::new());
        let space = stack_space(&mut frames);
        // Stack pointer at the bottom of the mapped stack: the frame would go below it.
        let mut c = interrupted();
        c.rsp = STACK_TOP - 4 * 4096 + 64;
        let before = c.clone();
        let d = delivery(c.rsp);
        let err = push_signal_frame(&mut c, &space, &d).unwrap_err();
        assert!(err.address < STACK_TOP - 4 * 4096);
        assert_eq!(c.rip, before.rip);
        assert_eq!(c.rsp, before.rsp);
        // Nothing mapped at all / a stack pointer near 0.
        let empty = UserSpace::new(&mut frames).unwrap();
        assert!(push_signal_frame(&mut c, &empty, &delivery(STACK_TOP)).is_err());
        assert!(push_signal_frame(&mut c, &space, &delivery(64)).is_err());
        // Sigreturn with rsp pointing nowhere.
        c.rsp = 0x1234_0000;
        assert!(pop_signal_frame(&mut c, &space, DEFAULT_MXCSR_MASK).is_err());
        assert_eq!(c.rsp, 0x1234_0000);
    }

    #[test]
    fn alternate_stack_overflow_is_refused() {
        let mut frames = HostFrames(Vec::new());
        let space = stack_space(&mut frames);
        let mut c = interrupted();
        // Entering a 960-byte alternate stack: the FP image and the frame, aligned, take 968.
        let alt = AltStack {
            sp: STACK_TOP - 960,
            flags: 0,
            size: 960,
        };
        let mut d = delivery(STACK_TOP);
        d.on_alternate_stack = true;
        d.alt_stack = alt;
        assert!(push_signal_frame(&mut c, &space, &d).is_err());
        // 976 bytes fit (Linux's `__on_sig_stack` wants the frame strictly above the base).
        d.alt_stack = AltStack {
            sp: STACK_TOP - 976,
            flags: 0,
            size: 976,
        };
        push_signal_frame(&mut c, &space, &d).unwrap();
        assert_eq!(c.rsp, STACK_TOP - 968);
        // Nested: already on it, near its bottom, no switch.
        let mut c = interrupted();
        c.rsp = STACK_TOP - 2048 + 900;
        let mut d = delivery(c.rsp);
        d.alt_stack = AltStack {
            sp: STACK_TOP - 2048,
            flags: 1, // SS_ONSTACK as the core reports it
            size: 2048,
        };
        assert!(push_signal_frame(&mut c, &space, &d).is_err());
        // With SS_AUTODISARM Linux does not consider itself on the alternate stack.
        d.alt_stack.flags = SS_AUTODISARM;
        push_signal_frame(&mut c, &space, &d).unwrap();
    }

    #[test]
    fn trampoline_is_linux_restore_rt() {
        // mov rax, 15 (REX.W C7 /0 imm32); syscall.
        assert_eq!(SIGRETURN_TRAMPOLINE[..3], [0x48, 0xc7, 0xc0]);
        assert_eq!(
            u32::from_le_bytes(SIGRETURN_TRAMPOLINE[3..7].try_into().unwrap()),
            NR_RT_SIGRETURN
        );
        assert_eq!(SIGRETURN_TRAMPOLINE[7..], [0x0f, 0x05]);
        assert_eq!(
            crate::syscall_table::sysno(15),
            Some(hal::syscall::Sysno::RtSigreturn)
        );
    }

    #[test]
    fn clone_arguments_in_x86_64_order() {
        let a = clone_args([0x3d0f00, 0x7fff_0000, 0x1000, 0x2000, 0x3000, 99]);
        assert_eq!(
            a,
            hal::user::CloneArgs {
                flags: 0x3d0f00,
                stack: 0x7fff_0000,
                parent_tid: 0x1000,
                child_tid: 0x2000,
                tls: 0x3000,
            }
        );
    }

    #[test]
    fn restart_rewinds_over_the_syscall_instruction() {
        let mut c = Context::new(0x40_1002, 0x7000);
        c.rax = 35; // nanosleep entered the kernel
        c.orig_rax = 35;
        c.set_syscall_return(-4i64 as u64); // -EINTR
        c.restart_syscall();
        assert_eq!((c.rip, c.rax), (0x40_1000, 35));
        // A context that did not come from a syscall has nothing to restart.
        let mut c = Context::new(0x40_1002, 0x7000);
        c.restart_syscall();
        assert_eq!(c.rip, 0x40_1002);
    }

    #[test]
    fn handlers_without_a_restorer_get_no_frame() {
        let mut frames = HostFrames(Vec::new());
        let space = stack_space(&mut frames);
        let mut c = interrupted();
        let before = c.clone();
        let mut d = delivery(c.rsp);
        d.flags = SA_SIGINFO;
        assert!(push_signal_frame(&mut c, &space, &d).is_err());
        assert_eq!(c.rip, before.rip, "the context is untouched");
    }
}

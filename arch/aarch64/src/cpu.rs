//! EL1 system-register configuration: the values the boot assembly loads (SCTLR_EL1, TCR_EL1,
//! MAIR_EL1) and the CPU setup done from Rust once the kernel runs in the higher half.

use aarch64_cpu::registers::{ID_AA64MMFR1_EL1, Readable};

// SCTLR_EL1 bits (Arm ARM D24.2.161).
const M: u64 = 1 << 0; // stage-1 MMU
const C: u64 = 1 << 2; // data caches
const SA: u64 = 1 << 3; // EL1 SP alignment check
const SA0: u64 = 1 << 4; // EL0 SP alignment check: a misaligned user sp faults (SIGBUS), as on Linux
const EOS: u64 = 1 << 11; // exception exit is context synchronizing (RES1 before FEAT_ExS)
const I: u64 = 1 << 12; // instruction caches
const DZE: u64 = 1 << 14; // EL0 may use DC ZVA (libc memset does)
const UCT: u64 = 1 << 15; // EL0 may read CTR_EL0 (libc cache-line queries)
const NTWE: u64 = 1 << 18; // EL0 WFE not trapped
const WXN: u64 = 1 << 19; // writable implies execute-never, at every EL
const TSCXT: u64 = 1 << 20; // RES1 before FEAT_CSV2_2
const EIS: u64 = 1 << 22; // exception entry is context synchronizing (RES1 before FEAT_ExS)
pub const SPAN: u64 = 1 << 23; // 1 = PSTATE.PAN unchanged on exception entry (RES1 before FEAT_PAN)
const UCI: u64 = 1 << 26; // EL0 cache maintenance by VA (JITs, __clear_cache)
const NTLSMD: u64 = 1 << 28; // RES1 before FEAT_LSMAOE
const LSMAOE: u64 = 1 << 29; // RES1 before FEAT_LSMAOE

/// Little-endian, MMU and caches off: the state the boot code starts from. Alignment checking
/// (A) stays off at every stage: Linux lets EL0 make unaligned normal-memory accesses.
pub const SCTLR_MMU_OFF: u64 = EOS | TSCXT | EIS | SPAN | NTLSMD | LSMAOE;
/// The running configuration. SPAN is cleared later when PAN exists (see [`init`]).
pub const SCTLR_MMU_ON: u64 = SCTLR_MMU_OFF | M | C | SA | SA0 | I | DZE | UCT | NTWE | WXN | UCI;

// TCR_EL1 fields (D24.2.199), IPS (bits 34:32) is filled in at runtime from ID_AA64MMFR0_EL1.
const T0SZ_48: u64 = 16;
const IRGN0_WBWA: u64 = 1 << 8;
const ORGN0_WBWA: u64 = 1 << 10;
const SH0_INNER: u64 = 3 << 12;
const TG0_4K: u64 = 0 << 14;
const T1SZ_48: u64 = 16 << 16;
const IRGN1_WBWA: u64 = 1 << 24;
const ORGN1_WBWA: u64 = 1 << 26;
const SH1_INNER: u64 = 3 << 28;
const TG1_4K: u64 = 2 << 30;
/// Top-byte-ignore for user addresses, as Linux configures EL0.
const TBI0: u64 = 1 << 37;
pub const TCR_BASE: u64 = T0SZ_48
    | IRGN0_WBWA
    | ORGN0_WBWA
    | SH0_INNER
    | TG0_4K
    | T1SZ_48
    | IRGN1_WBWA
    | ORGN1_WBWA
    | SH1_INNER
    | TG1_4K
    | TBI0;
/// Largest IPS encoding used: 48-bit physical addresses (52-bit needs LPA/LPA2 descriptors).
pub const IPS_MAX: u64 = 5;

/// CPACR_EL1.FPEN = 0b11: FP/SIMD usable at EL0 and EL1 without traps. The kernel itself is
/// built soft-float, so user FP state stays in the registers across traps.
const CPACR_FPEN: u64 = 3 << 20;
/// CNTKCTL_EL1.EL0VCTEN: user mode may read the virtual counter (and CNTFRQ_EL0), as on Linux.
const CNTKCTL_EL0VCTEN: u64 = 1 << 1;

/// Configures EL1 once the MMU is on: FP/SIMD for EL0, EL0 counter access, no debug traps, a
/// zero TPIDRRO_EL0 (as Linux gives AArch64 tasks), and Privileged Access Never: PSTATE.PAN when
/// the CPU has it, software PAN (user tables out of TTBR0 while the kernel runs) when it does
/// not. The kernel never dereferences user addresses.
pub fn init() {
    // SAFETY: these writes configure traps and access controls of EL0/EL1 only; the kernel does
    // not depend on the previous values.
    unsafe {
        core::arch::asm!(
            "msr cpacr_el1, {cpacr}",
            "msr cntkctl_el1, {cntkctl}",
            "msr mdscr_el1, xzr",
            "msr tpidrro_el0, xzr",
            "isb",
            cpacr = in(reg) CPACR_FPEN,
            cntkctl = in(reg) CNTKCTL_EL0VCTEN,
            options(nostack, preserves_flags)
        );
    }
    if !pan_supported() {
        crate::paging::enable_software_pan();
    } else {
        // SAFETY: with SPAN clear, every exception entry sets PSTATE.PAN; `msr pan, #1` (emitted
        // by encoding because the baseline target does not name v8.1 features) sets it now. The
        // kernel only accesses user memory through the direct map, which PAN does not restrict.
        unsafe {
            core::arch::asm!(
                "mrs {t}, sctlr_el1",
                "bic {t}, {t}, #{span}",
                "msr sctlr_el1, {t}",
                "isb",
                ".inst 0xd500419f",
                "isb",
                t = out(reg) _,
                span = const SPAN,
                options(nostack, preserves_flags)
            );
        }
    }
}

pub fn pan_supported() -> bool {
    (ID_AA64MMFR1_EL1.get() >> 20) & 0xf != 0
}

/// Reads the virtual counter.
pub fn counter() -> u64 {
    let v: u64;
    // SAFETY: CNTVCT_EL0 is always readable at EL1.
    unsafe {
        core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// Stops this CPU for good (interrupts stay masked in the kernel, so `wfe` only idles).
pub fn halt() -> ! {
    loop {
        aarch64_cpu::asm::wfe();
    }
}

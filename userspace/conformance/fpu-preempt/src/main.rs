//! Conformance: FP/SIMD state is per thread and survives preemption. Four threads (the main
//! one included) each fill every vector register (x86_64 xmm0-15, AArch64 v0-v30 plus v31 as
//! the increment) with their own pattern, set their own rounding mode (MXCSR.RC / FPCR.RMode),
//! and run a long register-only loop of vector additions; at the end each register must hold
//! exactly pattern + iterations x increment, and the rounding mode must be the thread's own.
//! Each thread repeats such chunks until every other thread has made progress since it began,
//! which on a single CPU can only happen if threads are preempted in the middle of their loops
//! (on Linux with several CPUs they simply run side by side). Between chunks each thread also
//! computes f64 sums whose results are known exactly, and one whose bits all threads must agree
//! on (square roots are correctly rounded in IEEE 754, so every conforming machine agrees).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use rt::check;
use rt::println;
use rt::sys;
use rt::thread;

rt::main!(main);

const PARTICIPANTS: usize = 4;
#[cfg(target_arch = "x86_64")]
const REGS: usize = 16;
#[cfg(target_arch = "aarch64")]
const REGS: usize = 31;
const ITERATIONS: u64 = 200_000;
/// A participant stops once every other one has completed this many chunks since it began.
const OTHERS_PROGRESS: u64 = 2;
/// ... or after this many chunks (then interleaving was not seen).
const MAX_CHUNKS: u64 = 400;

static PROGRESS: [AtomicU64; PARTICIPANTS] = [const { AtomicU64::new(0) }; PARTICIPANTS];
static FINISHED: [AtomicU32; PARTICIPANTS] = [const { AtomicU32::new(0) }; PARTICIPANTS];
static REGS_OK: AtomicUsize = AtomicUsize::new(0);
static ROUNDING_OK: AtomicUsize = AtomicUsize::new(0);
static INTERLEAVED: AtomicUsize = AtomicUsize::new(0);
static EXACT_OK: AtomicUsize = AtomicUsize::new(0);
static SQRT_BITS: [AtomicU64; PARTICIPANTS] = [const { AtomicU64::new(0) }; PARTICIPANTS];

/// Rounding-mode control words: x86_64 MXCSR (all exceptions masked, RC in bits 13-14);
/// AArch64 FPCR (RMode in bits 22-23).
#[cfg(target_arch = "x86_64")]
fn rounding(i: usize) -> u64 {
    0x1f80 | ((i as u64 % 4) << 13)
}
#[cfg(target_arch = "x86_64")]
const DEFAULT_CONTROL: u64 = 0x1f80;
#[cfg(target_arch = "aarch64")]
fn rounding(i: usize) -> u64 {
    (i as u64 % 4) << 22
}
#[cfg(target_arch = "aarch64")]
const DEFAULT_CONTROL: u64 = 0;

/// One chunk: load the registers from `pattern`, add `inc` to each `n` times, store them to
/// `out`; `ctl` = [control word to set, control word seen at the end, default to restore], one
/// u64 each (MXCSR is the low 32 bits).
#[cfg(target_arch = "x86_64")]
fn chunk(pattern: &[u128; REGS], inc: &u128, n: u64, out: &mut [u128; REGS], ctl: &mut [u64; 3]) {
    // SAFETY: reads the pattern and increment, writes `out` and ctl[1]; every vector register
    // and MXCSR the loop changes is declared clobbered (MXCSR is restored to the default).
    unsafe {
        core::arch::asm!(
            "ldmxcsr [r8]",
            "movdqu xmm0, [rdi + 0]",
            "movdqu xmm1, [rdi + 16]",
            "movdqu xmm2, [rdi + 32]",
            "movdqu xmm3, [rdi + 48]",
            "movdqu xmm4, [rdi + 64]",
            "movdqu xmm5, [rdi + 80]",
            "movdqu xmm6, [rdi + 96]",
            "movdqu xmm7, [rdi + 112]",
            "movdqu xmm8, [rdi + 128]",
            "movdqu xmm9, [rdi + 144]",
            "movdqu xmm10, [rdi + 160]",
            "movdqu xmm11, [rdi + 176]",
            "movdqu xmm12, [rdi + 192]",
            "movdqu xmm13, [rdi + 208]",
            "movdqu xmm14, [rdi + 224]",
            "movdqu xmm15, [rdi + 240]",
            "2:",
            "paddq xmm0, [rsi]",
            "paddq xmm1, [rsi]",
            "paddq xmm2, [rsi]",
            "paddq xmm3, [rsi]",
            "paddq xmm4, [rsi]",
            "paddq xmm5, [rsi]",
            "paddq xmm6, [rsi]",
            "paddq xmm7, [rsi]",
            "paddq xmm8, [rsi]",
            "paddq xmm9, [rsi]",
            "paddq xmm10, [rsi]",
            "paddq xmm11, [rsi]",
            "paddq xmm12, [rsi]",
            "paddq xmm13, [rsi]",
            "paddq xmm14, [rsi]",
            "paddq xmm15, [rsi]",
            "dec rcx",
            "jnz 2b",
            "movdqu [rdx + 0], xmm0",
            "movdqu [rdx + 16], xmm1",
            "movdqu [rdx + 32], xmm2",
            "movdqu [rdx + 48], xmm3",
            "movdqu [rdx + 64], xmm4",
            "movdqu [rdx + 80], xmm5",
            "movdqu [rdx + 96], xmm6",
            "movdqu [rdx + 112], xmm7",
            "movdqu [rdx + 128], xmm8",
            "movdqu [rdx + 144], xmm9",
            "movdqu [rdx + 160], xmm10",
            "movdqu [rdx + 176], xmm11",
            "movdqu [rdx + 192], xmm12",
            "movdqu [rdx + 208], xmm13",
            "movdqu [rdx + 224], xmm14",
            "movdqu [rdx + 240], xmm15",
            "stmxcsr [r8 + 8]",
            "ldmxcsr [r8 + 16]",
            in("rdi") pattern.as_ptr(),
            in("rsi") inc as *const u128,
            inout("rcx") n => _,
            in("rdx") out.as_mut_ptr(),
            in("r8") ctl.as_mut_ptr(),
            out("xmm0") _,
            out("xmm1") _,
            out("xmm2") _,
            out("xmm3") _,
            out("xmm4") _,
            out("xmm5") _,
            out("xmm6") _,
            out("xmm7") _,
            out("xmm8") _,
            out("xmm9") _,
            out("xmm10") _,
            out("xmm11") _,
            out("xmm12") _,
            out("xmm13") _,
            out("xmm14") _,
            out("xmm15") _,
            options(nostack),
        );
    }
}

/// See the x86_64 version; `ctl` = [FPCR to set, FPCR seen, default].
#[cfg(target_arch = "aarch64")]
fn chunk(pattern: &[u128; REGS], inc: &u128, n: u64, out: &mut [u128; REGS], ctl: &mut [u64; 3]) {
    // SAFETY: reads the pattern and increment, writes `out` and ctl[1]; every vector register
    // and FPCR the loop changes is declared clobbered (FPCR is restored to the default).
    unsafe {
        core::arch::asm!(
            "ldr x9, [x4]",
            "msr fpcr, x9",
            "ldr q0, [x0, #0]",
            "ldr q1, [x0, #16]",
            "ldr q2, [x0, #32]",
            "ldr q3, [x0, #48]",
            "ldr q4, [x0, #64]",
            "ldr q5, [x0, #80]",
            "ldr q6, [x0, #96]",
            "ldr q7, [x0, #112]",
            "ldr q8, [x0, #128]",
            "ldr q9, [x0, #144]",
            "ldr q10, [x0, #160]",
            "ldr q11, [x0, #176]",
            "ldr q12, [x0, #192]",
            "ldr q13, [x0, #208]",
            "ldr q14, [x0, #224]",
            "ldr q15, [x0, #240]",
            "ldr q16, [x0, #256]",
            "ldr q17, [x0, #272]",
            "ldr q18, [x0, #288]",
            "ldr q19, [x0, #304]",
            "ldr q20, [x0, #320]",
            "ldr q21, [x0, #336]",
            "ldr q22, [x0, #352]",
            "ldr q23, [x0, #368]",
            "ldr q24, [x0, #384]",
            "ldr q25, [x0, #400]",
            "ldr q26, [x0, #416]",
            "ldr q27, [x0, #432]",
            "ldr q28, [x0, #448]",
            "ldr q29, [x0, #464]",
            "ldr q30, [x0, #480]",
            "ldr q31, [x1]",
            "2:",
            "add v0.2d, v0.2d, v31.2d",
            "add v1.2d, v1.2d, v31.2d",
            "add v2.2d, v2.2d, v31.2d",
            "add v3.2d, v3.2d, v31.2d",
            "add v4.2d, v4.2d, v31.2d",
            "add v5.2d, v5.2d, v31.2d",
            "add v6.2d, v6.2d, v31.2d",
            "add v7.2d, v7.2d, v31.2d",
            "add v8.2d, v8.2d, v31.2d",
            "add v9.2d, v9.2d, v31.2d",
            "add v10.2d, v10.2d, v31.2d",
            "add v11.2d, v11.2d, v31.2d",
            "add v12.2d, v12.2d, v31.2d",
            "add v13.2d, v13.2d, v31.2d",
            "add v14.2d, v14.2d, v31.2d",
            "add v15.2d, v15.2d, v31.2d",
            "add v16.2d, v16.2d, v31.2d",
            "add v17.2d, v17.2d, v31.2d",
            "add v18.2d, v18.2d, v31.2d",
            "add v19.2d, v19.2d, v31.2d",
            "add v20.2d, v20.2d, v31.2d",
            "add v21.2d, v21.2d, v31.2d",
            "add v22.2d, v22.2d, v31.2d",
            "add v23.2d, v23.2d, v31.2d",
            "add v24.2d, v24.2d, v31.2d",
            "add v25.2d, v25.2d, v31.2d",
            "add v26.2d, v26.2d, v31.2d",
            "add v27.2d, v27.2d, v31.2d",
            "add v28.2d, v28.2d, v31.2d",
            "add v29.2d, v29.2d, v31.2d",
            "add v30.2d, v30.2d, v31.2d",
            "subs x2, x2, #1",
            "b.ne 2b",
            "str q0, [x3, #0]",
            "str q1, [x3, #16]",
            "str q2, [x3, #32]",
            "str q3, [x3, #48]",
            "str q4, [x3, #64]",
            "str q5, [x3, #80]",
            "str q6, [x3, #96]",
            "str q7, [x3, #112]",
            "str q8, [x3, #128]",
            "str q9, [x3, #144]",
            "str q10, [x3, #160]",
            "str q11, [x3, #176]",
            "str q12, [x3, #192]",
            "str q13, [x3, #208]",
            "str q14, [x3, #224]",
            "str q15, [x3, #240]",
            "str q16, [x3, #256]",
            "str q17, [x3, #272]",
            "str q18, [x3, #288]",
            "str q19, [x3, #304]",
            "str q20, [x3, #320]",
            "str q21, [x3, #336]",
            "str q22, [x3, #352]",
            "str q23, [x3, #368]",
            "str q24, [x3, #384]",
            "str q25, [x3, #400]",
            "str q26, [x3, #416]",
            "str q27, [x3, #432]",
            "str q28, [x3, #448]",
            "str q29, [x3, #464]",
            "str q30, [x3, #480]",
            "mrs x9, fpcr",
            "str x9, [x4, #8]",
            "ldr x9, [x4, #16]",
            "msr fpcr, x9",
            in("x0") pattern.as_ptr(),
            in("x1") inc as *const u128,
            inout("x2") n => _,
            in("x3") out.as_mut_ptr(),
            in("x4") ctl.as_mut_ptr(),
            out("x9") _,
            out("v0") _,
            out("v1") _,
            out("v2") _,
            out("v3") _,
            out("v4") _,
            out("v5") _,
            out("v6") _,
            out("v7") _,
            out("v8") _,
            out("v9") _,
            out("v10") _,
            out("v11") _,
            out("v12") _,
            out("v13") _,
            out("v14") _,
            out("v15") _,
            out("v16") _,
            out("v17") _,
            out("v18") _,
            out("v19") _,
            out("v20") _,
            out("v21") _,
            out("v22") _,
            out("v23") _,
            out("v24") _,
            out("v25") _,
            out("v26") _,
            out("v27") _,
            out("v28") _,
            out("v29") _,
            out("v30") _,
            out("v31") _,
            options(nostack),
        );
    }
}

/// Adds to each 64-bit lane of `v` `times` x the matching lane of `inc` (wrapping), as paddq /
/// add .2d do.
fn lanes_add(v: u128, inc: u128, times: u64) -> u128 {
    let lo = (v as u64).wrapping_add((inc as u64).wrapping_mul(times));
    let hi = ((v >> 64) as u64).wrapping_add(((inc >> 64) as u64).wrapping_mul(times));
    (hi as u128) << 64 | lo as u128
}

fn participate(i: usize) {
    let seed = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1);
    let pattern: [u128; REGS] = core::array::from_fn(|r| {
        let a = seed.rotate_left(r as u32 * 5) ^ r as u64;
        let b = seed.rotate_right(r as u32 * 3).wrapping_add(r as u64 * 77);
        (a as u128) << 64 | b as u128
    });
    let inc: u128 = ((i as u128 + 1) << 64) | (2 * i as u128 + 3);
    let start: [u64; PARTICIPANTS] = core::array::from_fn(|j| PROGRESS[j].load(Ordering::Acquire));
    let mut regs_ok = true;
    let mut rounding_ok = true;
    let mut exact_ok = true;
    let mut interleaved = false;
    let mut out = [0u128; REGS];
    for _ in 0..MAX_CHUNKS {
        let mut ctl = [rounding(i), 0, DEFAULT_CONTROL];
        chunk(&pattern, &inc, ITERATIONS, &mut out, &mut ctl);
        regs_ok &= (0..REGS).all(|r| out[r] == lanes_add(pattern[r], inc, ITERATIONS));
        rounding_ok &= ctl[1] == rounding(i);
        exact_ok &= exact_sum(1 << 12) == 0.25 * ((1u64 << 12) * ((1 << 12) - 1) / 2) as f64;
        PROGRESS[i].fetch_add(1, Ordering::AcqRel);
        let others_done = (0..PARTICIPANTS).filter(|&j| j != i).all(|j| {
            FINISHED[j].load(Ordering::Acquire) != 0
                || PROGRESS[j].load(Ordering::Acquire) >= start[j] + OTHERS_PROGRESS
        });
        if others_done {
            interleaved = true;
            break;
        }
    }
    SQRT_BITS[i].store(sqrt_sum(20_000).to_bits(), Ordering::Relaxed);
    FINISHED[i].store(1, Ordering::Release);
    for (flag, ok) in [
        (&REGS_OK, regs_ok),
        (&ROUNDING_OK, rounding_ok),
        (&EXACT_OK, exact_ok),
        (&INTERLEAVED, interleaved),
    ] {
        if ok {
            flag.fetch_or(1 << i, Ordering::Relaxed);
        }
    }
}

/// sum of k/4 for k < n: every partial sum is exact in f64.
#[inline(never)]
fn exact_sum(n: u64) -> f64 {
    let mut acc = 0.0f64;
    for k in 0..n {
        acc += core::hint::black_box(k as f64) * 0.25;
    }
    acc
}

/// sum of sqrt(k) for k < n, in order.
#[inline(never)]
fn sqrt_sum(n: u64) -> f64 {
    let mut acc = 0.0f64;
    for k in 0..n {
        acc += sqrt(core::hint::black_box(k as f64));
    }
    acc
}

/// The IEEE 754 square root (sqrtsd / fsqrt), correctly rounded on every conforming CPU.
fn sqrt(x: f64) -> f64 {
    #[cfg(target_arch = "aarch64")]
    let r: f64;
    #[cfg(target_arch = "x86_64")]
    let r = {
        // x86_64-unknown-none is a soft-float target (the compiler never uses SSE registers),
        // so xmm0 is saved and restored around the instruction instead of being declared.
        let mut v = [x, 0.0, 0.0];
        // SAFETY: reads and writes only `v`; xmm0 is restored before the block ends.
        unsafe {
            core::arch::asm!(
                "movsd [{v} + 8], xmm0",
                "sqrtsd xmm0, [{v}]",
                "movsd [{v}], xmm0",
                "movsd xmm0, [{v} + 8]",
                v = in(reg) v.as_mut_ptr(),
                options(nostack),
            )
        };
        v[0]
    };
    // SAFETY: a register-only instruction.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!(
            "fsqrt {0:d}, {1:d}",
            out(vreg) r,
            in(vreg) x,
            options(nomem, nostack, pure)
        )
    };
    r
}

extern "C" fn worker(i: usize) -> i32 {
    participate(i);
    0
}

fn main(_env: &rt::Env) -> i32 {
    let mut threads: [Option<thread::Thread>; PARTICIPANTS - 1] =
        [const { None }; PARTICIPANTS - 1];
    for (k, t) in threads.iter_mut().enumerate() {
        match thread::spawn(worker, k + 1) {
            Ok(th) => *t = Some(th),
            Err(e) => check::fail("clone(thread)", rt::errno::Ret(e)),
        }
    }
    participate(0);
    for t in threads.into_iter().flatten() {
        t.join();
    }
    let all = (1 << PARTICIPANTS) - 1;
    println!(
        "{PARTICIPANTS} threads, all vector registers each, chunks of {ITERATIONS} iterations"
    );
    check::yes(
        "every thread's vector registers held exactly their values",
        REGS_OK.load(Ordering::Relaxed) == all,
    );
    check::yes(
        "every thread kept its own rounding mode",
        ROUNDING_OK.load(Ordering::Relaxed) == all,
    );
    check::yes(
        "every thread ran while the others made progress",
        INTERLEAVED.load(Ordering::Relaxed) == all,
    );
    check::yes(
        "exact f64 sums were exact in every thread",
        EXACT_OK.load(Ordering::Relaxed) == all,
    );
    let bits = SQRT_BITS[0].load(Ordering::Relaxed);
    check::yes(
        "all threads computed the same sum of square roots",
        SQRT_BITS.iter().all(|b| b.load(Ordering::Relaxed) == bits),
    );
    // The value IEEE 754 arithmetic gives (sqrtsd/fsqrt are correctly rounded, the additions
    // are done in order), the same on x86_64 and AArch64 Linux.
    check::shows(
        "sum of sqrt(k), k < 20000 (f64 bits)",
        format_args!("{bits:#018x}"),
        "0x413cc56b2a368527",
    );
    let _ = sys::getpid();
    check::finish("fpu-preempt")
}

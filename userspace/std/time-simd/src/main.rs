//! Conformance (Rust std): time and SIMD as a Rust program sees them. `Instant` never goes
//! backwards, within a thread or across threads (read under a lock); `thread::sleep` lasts at
//! least what was asked; `SystemTime` is past 2024. Four threads at once run long SIMD loops
//! with `core::arch` intrinsics (x86_64 SSE2, AArch64 NEON) on f64 and u32 lanes, plus `f64`
//! square roots, for long enough to be preempted many times; every result must be exactly the
//! value computed in closed form (all partial sums are exact), and the square-root sum must have
//! the bits IEEE 754 gives.

use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const N: u64 = 1_000_000;

/// Sums (k * 0.5, k * 0.25) as two f64 lanes and (k, 2k, 3k, 4k) as four wrapping u32 lanes,
/// for k < n, with SIMD instructions; returns the lanes.
#[cfg(target_arch = "x86_64")]
fn simd_sums(n: u64) -> ([f64; 2], [u32; 4]) {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline; the stores write into local arrays.
    unsafe {
        let mut facc = _mm_setzero_pd();
        let scale = _mm_set_pd(0.25, 0.5);
        let mut iacc = _mm_setzero_si128();
        let mut k = _mm_setzero_si128();
        let step = _mm_set_epi32(4, 3, 2, 1);
        for i in 0..n {
            let kf = _mm_set1_pd(std::hint::black_box(i) as f64);
            facc = _mm_add_pd(facc, _mm_mul_pd(kf, scale));
            iacc = _mm_add_epi32(iacc, k);
            k = _mm_add_epi32(k, step);
        }
        let mut f = [0.0; 2];
        _mm_storeu_pd(f.as_mut_ptr(), facc);
        let mut u = [0u32; 4];
        _mm_storeu_si128(u.as_mut_ptr().cast(), iacc);
        (f, u)
    }
}

#[cfg(target_arch = "aarch64")]
fn simd_sums(n: u64) -> ([f64; 2], [u32; 4]) {
    use std::arch::aarch64::*;
    // SAFETY: NEON is part of the AArch64 baseline; the stores write into local arrays.
    unsafe {
        let mut facc = vdupq_n_f64(0.0);
        let scale = vld1q_f64([0.5, 0.25].as_ptr());
        let mut iacc = vdupq_n_u32(0);
        let mut k = vdupq_n_u32(0);
        let step = vld1q_u32([1, 2, 3, 4].as_ptr());
        for i in 0..n {
            let kf = vdupq_n_f64(std::hint::black_box(i) as f64);
            facc = vaddq_f64(facc, vmulq_f64(kf, scale));
            iacc = vaddq_u32(iacc, k);
            k = vaddq_u32(k, step);
        }
        let mut f = [0.0; 2];
        vst1q_f64(f.as_mut_ptr(), facc);
        let mut u = [0u32; 4];
        vst1q_u32(u.as_mut_ptr(), iacc);
        (f, u)
    }
}

fn sqrt_sum(n: u64) -> f64 {
    (0..n)
        .map(|k| (std::hint::black_box(k) as f64).sqrt())
        .sum()
}

fn main() {
    let mut failures = 0;
    let mut expect = |label: &str, got: String, want: &str| {
        if got == want {
            println!("{label}: {got}");
        } else {
            println!("{label}: {got} FAILED: expected {want}");
            failures += 1;
        }
    };

    // Monotonic within and across threads.
    let last = Mutex::new(Instant::now());
    let ok: Vec<bool> = thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut ok = true;
                    let mut prev = Instant::now();
                    for i in 0..20_000 {
                        let now = Instant::now();
                        ok &= now >= prev;
                        prev = now;
                        if i % 100 == 0 {
                            let mut l = last.lock().unwrap();
                            let now = Instant::now();
                            ok &= now >= *l;
                            *l = now;
                        }
                    }
                    ok
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    expect(
        "Instant never went backwards (4 threads)",
        format!("{ok:?}"),
        "[true, true, true, true]",
    );
    let t0 = Instant::now();
    thread::sleep(Duration::from_millis(30));
    expect(
        "thread::sleep(30 ms) lasted at least 30 ms",
        (t0.elapsed() >= Duration::from_millis(30)).to_string(),
        "true",
    );
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    expect(
        "SystemTime is after 2024-01-01",
        (since_epoch.as_secs() >= 1_704_067_200).to_string(),
        "true",
    );

    // SIMD in four threads at once.
    let results: Vec<([f64; 2], [u32; 4], u64)> = thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let (f, u) = simd_sums(N);
                    (f, u, sqrt_sum(20_000).to_bits())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let tri = (N * (N - 1) / 2) as f64;
    let want_f = [tri * 0.5, tri * 0.25];
    let tri_u = (N * (N - 1) / 2) as u128;
    let want_u: [u32; 4] = std::array::from_fn(|l| (tri_u * (l as u128 + 1)) as u32);
    let f_ok = results.iter().all(|r| r.0 == want_f);
    let u_ok = results.iter().all(|r| r.1 == want_u);
    let s_ok = results.iter().all(|r| r.2 == results[0].2);
    expect(
        "f64x2 lanes exact in all 4 threads",
        f_ok.to_string(),
        "true",
    );
    expect(
        "u32x4 lanes exact in all 4 threads",
        u_ok.to_string(),
        "true",
    );
    expect(
        "all threads agree on the sqrt sum",
        s_ok.to_string(),
        "true",
    );
    // IEEE 754 square roots are correctly rounded; summed in order this is the result on
    // every conforming machine (the same constant the raw fpu-preempt program checks).
    expect(
        "sum of sqrt(k), k < 20000 (f64 bits)",
        format!("{:#018x}", results[0].2),
        "0x413cc56b2a368527",
    );

    if failures == 0 {
        println!("std-time-simd: ok");
    } else {
        println!("std-time-simd: {failures} checks FAILED");
        std::process::exit(1);
    }
}

//! Conformance: time. Every clock (REALTIME, MONOTONIC, BOOTTIME, PROCESS/THREAD_CPUTIME)
//! reads with a resolution between 1 ns and 1 ms; MONOTONIC never goes backwards; BOOTTIME is
//! never behind MONOTONIC; the wall clock is past 2024 (it comes from the RTC) and agrees with
//! `gettimeofday`; sleeps (`nanosleep`, relative and absolute `clock_nanosleep`) last at least
//! what was asked (never an upper bound: emulators are slow); CPU-time clocks, `times` and
//! `getrusage` advance while spinning, and a waited-for child's CPU time shows up in
//! RUSAGE_CHILDREN. Bad clock ids and times give EINVAL, bad pointers EFAULT.
#![no_std]
#![no_main]

use rt::check;
use rt::errno::{EFAULT, EINVAL, EOPNOTSUPP};
use rt::println;
use rt::sys::{
    self, CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_REALTIME,
    CLOCK_THREAD_CPUTIME_ID, Timespec, Timeval,
};
use rt::syscall::{nr, syscall1, syscall2, syscall4};

rt::main!(main);

/// 2024-01-01T00:00:00Z.
const Y2024: i64 = 1_704_067_200;

fn now(clock: usize) -> i128 {
    sys::clock_gettime(clock).map_or(0, |t| t.ns())
}

fn main(_env: &rt::Env) -> i32 {
    for (name, clock) in [
        ("CLOCK_REALTIME", CLOCK_REALTIME),
        ("CLOCK_MONOTONIC", CLOCK_MONOTONIC),
        ("CLOCK_PROCESS_CPUTIME_ID", CLOCK_PROCESS_CPUTIME_ID),
        ("CLOCK_THREAD_CPUTIME_ID", CLOCK_THREAD_CPUTIME_ID),
        ("CLOCK_BOOTTIME", CLOCK_BOOTTIME),
    ] {
        let t = sys::clock_gettime(clock);
        let r = sys::clock_getres(clock);
        let res_ok = r.is_ok_and(|r| r.sec == 0 && r.nsec >= 1 && r.nsec <= 1_000_000);
        let t_ok = t.is_ok_and(|t| t.sec >= 0 && (0..1_000_000_000).contains(&t.nsec));
        let label = rt::text::Text::of(format_args!("{name}: reads, resolution in [1 ns, 1 ms]"));
        check::yes(label.as_str(), t_ok && res_ok);
    }
    check::err(
        "clock_gettime(clock 100)",
        sys::clock_gettime(100).map(|_| 0).unwrap_or_else(|e| e),
        EINVAL,
    );
    check::err(
        "clock_getres(clock 100)",
        sys::clock_getres(100).map(|_| 0).unwrap_or_else(|e| e),
        EINVAL,
    );
    // SAFETY: 0x10 is never mapped; the kernel must not write there.
    check::err(
        "clock_gettime(MONOTONIC, 0x10)",
        unsafe { syscall2(nr::CLOCK_GETTIME, CLOCK_MONOTONIC, 0x10) },
        EFAULT,
    );
    // SAFETY: a null result pointer is allowed for clock_getres.
    check::ret(
        "clock_getres(MONOTONIC, NULL)",
        unsafe { syscall2(nr::CLOCK_GETRES, CLOCK_MONOTONIC, 0) },
        0,
    );

    let mut last = now(CLOCK_MONOTONIC);
    let mut monotonic = true;
    for _ in 0..20_000 {
        let t = now(CLOCK_MONOTONIC);
        monotonic &= t >= last;
        last = t;
    }
    check::yes(
        "CLOCK_MONOTONIC never goes backwards (20000 reads)",
        monotonic,
    );
    let m = now(CLOCK_MONOTONIC);
    let b = now(CLOCK_BOOTTIME);
    check::yes("CLOCK_BOOTTIME >= CLOCK_MONOTONIC", b >= m);
    let real = now(CLOCK_REALTIME);
    check::yes(
        "CLOCK_REALTIME is after 2024-01-01",
        real >= Y2024 as i128 * 1_000_000_000,
    );

    let mut tv = Timeval::default();
    let before = now(CLOCK_REALTIME) / 1000;
    // SAFETY: tv is a live timeval; the timezone pointer may be null.
    let r = unsafe { syscall2(nr::GETTIMEOFDAY, &mut tv as *mut Timeval as usize, 0) };
    let after = now(CLOCK_REALTIME) / 1000;
    check::ret("gettimeofday", r, 0);
    check::yes(
        "  between two CLOCK_REALTIME reads (microseconds)",
        before <= tv.us() && tv.us() <= after,
    );
    check::yes("  tv_usec < 1000000", (0..1_000_000).contains(&tv.usec));
    let mut tz = [0i32; 2];
    // SAFETY: tz is a live struct timezone (two ints).
    check::ret(
        "gettimeofday(NULL, &tz)",
        unsafe { syscall2(nr::GETTIMEOFDAY, 0, tz.as_mut_ptr() as usize) },
        0,
    );
    // SAFETY: 0x10 is never mapped.
    check::err(
        "gettimeofday(0x10)",
        unsafe { syscall2(nr::GETTIMEOFDAY, 0x10, 0) },
        EFAULT,
    );

    println!("sleeping:");
    for ms in [1, 20, 50] {
        let t0 = now(CLOCK_MONOTONIC);
        let r = sys::nanosleep(&Timespec::from_ns(ms * 1_000_000), None);
        let slept = now(CLOCK_MONOTONIC) - t0;
        let label = rt::text::Text::of(format_args!("  nanosleep({ms} ms)"));
        check::ret(label.as_str(), r, 0);
        check::yes(
            "    at least that long on CLOCK_MONOTONIC",
            slept >= ms as i128 * 1_000_000,
        );
    }
    let t0 = now(CLOCK_MONOTONIC);
    check::ret(
        "  clock_nanosleep(MONOTONIC, relative 30 ms)",
        sys::clock_nanosleep(CLOCK_MONOTONIC, 0, &Timespec::from_ns(30_000_000), None),
        0,
    );
    check::yes(
        "    at least that long",
        now(CLOCK_MONOTONIC) - t0 >= 30_000_000,
    );
    let target = Timespec::from_ns((now(CLOCK_MONOTONIC) + 30_000_000) as i64);
    check::ret(
        "  clock_nanosleep(MONOTONIC, TIMER_ABSTIME now+30 ms)",
        sys::clock_nanosleep(CLOCK_MONOTONIC, sys::TIMER_ABSTIME, &target, None),
        0,
    );
    check::yes(
        "    woke at or after the target",
        now(CLOCK_MONOTONIC) >= target.ns(),
    );
    let target = Timespec::from_ns((now(CLOCK_REALTIME) + 30_000_000) as i64);
    check::ret(
        "  clock_nanosleep(REALTIME, TIMER_ABSTIME now+30 ms)",
        sys::clock_nanosleep(CLOCK_REALTIME, sys::TIMER_ABSTIME, &target, None),
        0,
    );
    check::yes(
        "    woke at or after the target",
        now(CLOCK_REALTIME) >= target.ns(),
    );
    let past = Timespec::from_ns(1);
    check::ret(
        "  clock_nanosleep(MONOTONIC, TIMER_ABSTIME in the past)",
        sys::clock_nanosleep(CLOCK_MONOTONIC, sys::TIMER_ABSTIME, &past, None),
        0,
    );
    check::ret(
        "  nanosleep(0)",
        sys::nanosleep(&Timespec::default(), None),
        0,
    );
    check::err(
        "  nanosleep(tv_nsec = 1e9)",
        sys::nanosleep(
            &Timespec {
                sec: 0,
                nsec: 1_000_000_000,
            },
            None,
        ),
        EINVAL,
    );
    check::err(
        "  nanosleep(tv_sec = -1)",
        sys::nanosleep(&Timespec { sec: -1, nsec: 0 }, None),
        EINVAL,
    );
    check::err(
        "  clock_nanosleep(clock 100)",
        sys::clock_nanosleep(100, 0, &Timespec::from_ns(1), None),
        EINVAL,
    );
    check::err(
        "  clock_nanosleep(THREAD_CPUTIME)",
        sys::clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &Timespec::from_ns(1), None),
        EOPNOTSUPP,
    );
    // QEMU's user mode (the AArch64 reference here) does not check nanosleep's pointer; the
    // kernel code is generic, so this runs on x86_64.
    // SAFETY: 0x10 is never mapped; the kernel must not read there.
    #[cfg(target_arch = "x86_64")]
    check::err(
        "  nanosleep(0x10)",
        unsafe { syscall2(nr::NANOSLEEP, 0x10, 0) },
        EFAULT,
    );
    // SAFETY: as above.
    check::err(
        "  clock_nanosleep(MONOTONIC, 0, 0x10)",
        unsafe { syscall4(nr::CLOCK_NANOSLEEP, CLOCK_MONOTONIC, 0, 0x10, 0) },
        EFAULT,
    );

    println!("CPU time:");
    let p0 = now(CLOCK_PROCESS_CPUTIME_ID);
    let th0 = now(CLOCK_THREAD_CPUTIME_ID);
    let mut tms0 = sys::Tms::default();
    // SAFETY: tms0 is a live struct tms.
    let ticks0 = unsafe { syscall1(nr::TIMES, &mut tms0 as *mut sys::Tms as usize) };
    let ru0 = sys::getrusage(sys::RUSAGE_SELF as isize).unwrap_or_default();
    sys::spin_ms(200);
    let p1 = now(CLOCK_PROCESS_CPUTIME_ID);
    let th1 = now(CLOCK_THREAD_CPUTIME_ID);
    let mut tms1 = sys::Tms::default();
    // SAFETY: as above.
    let ticks1 = unsafe { syscall1(nr::TIMES, &mut tms1 as *mut sys::Tms as usize) };
    let ru1 = sys::getrusage(sys::RUSAGE_SELF as isize).unwrap_or_default();
    check::yes(
        "  CLOCK_PROCESS_CPUTIME_ID advanced during 200 ms of spinning",
        p1 > p0,
    );
    check::yes("  CLOCK_THREAD_CPUTIME_ID advanced", th1 > th0);
    check::yes("  times() elapsed ticks did not go back", ticks1 >= ticks0);
    check::yes(
        "  times() user+system ticks advanced",
        tms1.utime + tms1.stime > tms0.utime + tms0.stime,
    );
    check::yes(
        "  getrusage(RUSAGE_SELF) user+system time advanced",
        ru1.utime.us() + ru1.stime.us() > ru0.utime.us() + ru0.stime.us(),
    );
    // SAFETY: a null buffer is allowed: only the elapsed ticks are returned.
    check::yes(
        "  times(NULL) returns ticks",
        unsafe { syscall1(nr::TIMES, 0) } >= ticks1,
    );
    check::ok(
        "  getrusage(RUSAGE_THREAD)",
        sys::getrusage(sys::RUSAGE_THREAD as isize)
            .map(|_| 0)
            .unwrap_or_else(|e| e),
    );
    check::err(
        "  getrusage(who = 5)",
        sys::getrusage(5).map(|_| 0).unwrap_or_else(|e| e),
        EINVAL,
    );
    // SAFETY: 0x10 is never mapped.
    check::err(
        "  getrusage(SELF, 0x10)",
        unsafe { syscall2(nr::GETRUSAGE, 0, 0x10) },
        EFAULT,
    );

    let c0 = sys::getrusage(sys::RUSAGE_CHILDREN).unwrap_or_default();
    let child = sys::fork();
    if child == 0 {
        sys::spin_ms(200);
        rt::exit(0);
    }
    sys::wait_for(child as i32);
    let c1 = sys::getrusage(sys::RUSAGE_CHILDREN).unwrap_or_default();
    check::yes(
        "  RUSAGE_CHILDREN grew by a waited-for child's CPU time",
        c1.utime.us() + c1.stime.us() > c0.utime.us() + c0.stime.us(),
    );
    check::finish("time")
}

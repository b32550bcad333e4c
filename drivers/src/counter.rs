//! Exact conversions between a free-running counter's ticks and nanoseconds, shared by the
//! timer drivers (the TSC, the APIC timer, the Arm generic timer).
//!
//! Both directions split off whole seconds first, so that the remainder's product with 10^9 (or
//! with the frequency) fits in 64 bits for any counter below 18 GHz. The clock is read on every
//! trip through the kernel's run loop, and a 128-bit division is a library call of some fifty
//! instructions; the split makes it two 64-bit divisions, with the same results.

pub const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Nanoseconds for `ticks` counter ticks at `frequency` Hz (> 0): rounded down, monotonic in
/// `ticks`, saturating at `u64::MAX`.
pub const fn ticks_to_ns(ticks: u64, frequency: u64) -> u64 {
    let seconds = ticks / frequency;
    let rest = ticks % frequency;
    let rest_ns = match rest.checked_mul(NANOS_PER_SECOND) {
        Some(product) => product / frequency,
        None => (rest as u128 * NANOS_PER_SECOND as u128 / frequency as u128) as u64,
    };
    seconds
        .saturating_mul(NANOS_PER_SECOND)
        .saturating_add(rest_ns)
}

/// The first counter value at or after `ns` nanoseconds at `frequency` Hz (rounded up, so a
/// deadline never fires early), saturating at `u64::MAX`.
pub const fn ns_to_ticks(ns: u64, frequency: u64) -> u64 {
    let seconds = ns / NANOS_PER_SECOND;
    let rest = ns % NANOS_PER_SECOND;
    let rest_ticks = match rest.checked_mul(frequency) {
        Some(product) => product.div_ceil(NANOS_PER_SECOND),
        None => (rest as u128 * frequency as u128).div_ceil(NANOS_PER_SECOND as u128) as u64,
    };
    seconds.saturating_mul(frequency).saturating_add(rest_ticks)
}

/// The clock-reading conversion: ns = ticks x `mult` / 2^`shift`, with the widest `shift` that
/// keeps `mult` in 64 bits (Linux's clocksource mult/shift). One 64x64-bit multiplication and a
/// shift, where [`ticks_to_ns`] needs two divisions; monotonic, and within a nanosecond of
/// the exact value for far longer than a machine runs (the rounding of `mult` drifts by at most
/// 2^-(shift+1) of the elapsed time: 2^-45 for a 1 GHz counter). Deadlines keep using the exact
/// conversions, so they never fire early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    mult: u64,
    shift: u32,
}

impl Scale {
    /// The scale for a counter of `frequency` Hz (> 0).
    pub const fn new(frequency: u64) -> Scale {
        let mut shift = 63;
        loop {
            let numerator = (NANOS_PER_SECOND as u128) << shift;
            let mult = (numerator + frequency as u128 / 2) / frequency as u128;
            if mult <= u64::MAX as u128 || shift == 0 {
                return Scale {
                    mult: mult as u64,
                    shift,
                };
            }
            shift -= 1;
        }
    }

    /// Nanoseconds for `ticks`, saturating at `u64::MAX`.
    #[inline]
    pub fn ns(&self, ticks: u64) -> u64 {
        let ns = (ticks as u128 * self.mult as u128) >> self.shift;
        if ns > u64::MAX as u128 {
            u64::MAX
        } else {
            ns as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 128-bit definitions the split forms must agree with.
    fn reference_ns(ticks: u64, f: u64) -> u64 {
        (ticks as u128 * NANOS_PER_SECOND as u128 / f as u128).min(u64::MAX as u128) as u64
    }
    fn reference_ticks(ns: u64, f: u64) -> u64 {
        (ns as u128 * f as u128)
            .div_ceil(NANOS_PER_SECOND as u128)
            .min(u64::MAX as u128) as u64
    }

    #[test]
    fn split_conversions_equal_the_128_bit_ones() {
        let frequencies = [
            1_000,
            19_200_000,
            54_000_000,
            62_500_000,
            1_000_000_000,
            2_994_374_000,
            25_000_000_000, // above 18 GHz: the 128-bit fallback
            u64::MAX,
        ];
        let values = [
            0,
            1,
            15,
            16,
            17,
            999_999_999,
            1_000_000_000,
            123_456_789_012,
            3600 * 2_994_374_000,
            1 << 62,
            u64::MAX - 1,
            u64::MAX,
        ];
        for f in frequencies {
            for v in values {
                assert_eq!(
                    ticks_to_ns(v, f),
                    reference_ns(v, f),
                    "ticks_to_ns({v}, {f})"
                );
                assert_eq!(
                    ns_to_ticks(v, f),
                    reference_ticks(v, f),
                    "ns_to_ticks({v}, {f})"
                );
            }
        }
    }

    #[test]
    fn scale_is_close_to_exact_and_monotonic() {
        for f in [
            1,
            1_000,
            19_200_000,
            54_000_000,
            62_500_000,
            1_000_000_000,
            2_994_374_000,
        ] {
            let scale = Scale::new(f);
            // A day of ticks (or as many as fit) stays within a nanosecond or two of exact.
            let day = f.saturating_mul(86_400);
            for t in [0, 1, 17, f / 3, f, day / 7, day] {
                let exact = ticks_to_ns(t, f);
                let fast = scale.ns(t);
                assert!(
                    exact.abs_diff(fast) <= 2,
                    "{t} ticks at {f} Hz: {fast} vs {exact}"
                );
            }
            let mut last = 0;
            for t in (0..5_000_000u64).step_by(997) {
                let ns = scale.ns(t);
                assert!(ns >= last, "not monotonic at {t} ticks, {f} Hz");
                last = ns;
            }
        }
        // Exact for the frequencies QEMU uses.
        assert_eq!(Scale::new(1_000_000_000).ns(123_456_789), 123_456_789);
        assert_eq!(Scale::new(62_500_000).ns(3), 48);
        assert_eq!(Scale::new(1).ns(u64::MAX), u64::MAX);
    }
}

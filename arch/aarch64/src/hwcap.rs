//! AT_HWCAP for AArch64: Linux's `HWCAP_*` bits (arch/arm64/include/uapi/asm/hwcap.h) derived
//! from the CPU ID registers. Only features whose user-visible state this kernel preserves are
//! advertised: no SVE/SME (their registers are not saved, the instructions trap), no pointer
//! authentication (keys are not set up), no DIT/SSBS (PSTATE bits are not carried across traps),
//! no CPUID (EL0 `mrs` of ID registers is not emulated).

pub const HWCAP_FP: u64 = 1 << 0;
pub const HWCAP_ASIMD: u64 = 1 << 1;
pub const HWCAP_AES: u64 = 1 << 3;
pub const HWCAP_PMULL: u64 = 1 << 4;
pub const HWCAP_SHA1: u64 = 1 << 5;
pub const HWCAP_SHA2: u64 = 1 << 6;
pub const HWCAP_CRC32: u64 = 1 << 7;
pub const HWCAP_ATOMICS: u64 = 1 << 8;
pub const HWCAP_FPHP: u64 = 1 << 9;
pub const HWCAP_ASIMDHP: u64 = 1 << 10;
pub const HWCAP_ASIMDRDM: u64 = 1 << 12;
pub const HWCAP_JSCVT: u64 = 1 << 13;
pub const HWCAP_FCMA: u64 = 1 << 14;
pub const HWCAP_LRCPC: u64 = 1 << 15;
pub const HWCAP_DCPOP: u64 = 1 << 16;
pub const HWCAP_SHA3: u64 = 1 << 17;
pub const HWCAP_SM3: u64 = 1 << 18;
pub const HWCAP_SM4: u64 = 1 << 19;
pub const HWCAP_ASIMDDP: u64 = 1 << 20;
pub const HWCAP_SHA512: u64 = 1 << 21;
pub const HWCAP_ASIMDFHM: u64 = 1 << 23;
pub const HWCAP_USCAT: u64 = 1 << 25;
pub const HWCAP_ILRCPC: u64 = 1 << 26;
pub const HWCAP_FLAGM: u64 = 1 << 27;
pub const HWCAP_SB: u64 = 1 << 29;

/// The ID register values hwcaps are computed from.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdRegisters {
    pub isar0: u64,
    pub isar1: u64,
    pub pfr0: u64,
    pub mmfr2: u64,
}

/// An unsigned 4-bit ID field.
const fn field(reg: u64, shift: u32) -> u64 {
    (reg >> shift) & 0xf
}

pub fn hwcap_from(id: IdRegisters) -> u64 {
    let mut caps = 0;
    let mut set = |cond: bool, bit: u64| {
        if cond {
            caps |= bit;
        }
    };

    // ID_AA64PFR0_EL1.FP [19:16] and AdvSIMD [23:20]: 0xf = not implemented, 1 = with fp16.
    let fp = field(id.pfr0, 16);
    let simd = field(id.pfr0, 20);
    set(fp != 0xf, HWCAP_FP);
    set(fp == 1, HWCAP_FPHP);
    set(simd != 0xf, HWCAP_ASIMD);
    set(simd == 1, HWCAP_ASIMDHP);

    // ID_AA64ISAR0_EL1
    let aes = field(id.isar0, 4);
    set(aes >= 1, HWCAP_AES);
    set(aes >= 2, HWCAP_PMULL);
    set(field(id.isar0, 8) >= 1, HWCAP_SHA1);
    let sha2 = field(id.isar0, 12);
    set(sha2 >= 1, HWCAP_SHA2);
    set(sha2 >= 2, HWCAP_SHA512);
    set(field(id.isar0, 16) >= 1, HWCAP_CRC32);
    set(field(id.isar0, 20) >= 2, HWCAP_ATOMICS);
    set(field(id.isar0, 28) >= 1, HWCAP_ASIMDRDM);
    set(field(id.isar0, 32) >= 1, HWCAP_SHA3);
    set(field(id.isar0, 36) >= 1, HWCAP_SM3);
    set(field(id.isar0, 40) >= 1, HWCAP_SM4);
    set(field(id.isar0, 44) >= 1, HWCAP_ASIMDDP);
    set(field(id.isar0, 48) >= 1, HWCAP_ASIMDFHM);
    set(field(id.isar0, 52) >= 1, HWCAP_FLAGM);

    // ID_AA64ISAR1_EL1
    set(field(id.isar1, 0) >= 1, HWCAP_DCPOP);
    set(field(id.isar1, 12) >= 1, HWCAP_JSCVT);
    set(field(id.isar1, 16) >= 1, HWCAP_FCMA);
    let lrcpc = field(id.isar1, 20);
    set(lrcpc >= 1, HWCAP_LRCPC);
    set(lrcpc >= 2, HWCAP_ILRCPC);
    set(field(id.isar1, 36) >= 1, HWCAP_SB);

    // ID_AA64MMFR2_EL1.AT [35:32]: unaligned single-copy atomicity.
    set(field(id.mmfr2, 32) >= 1, HWCAP_USCAT);
    caps
}

/// Reads the ID registers of this CPU.
#[cfg(target_arch = "aarch64")]
pub fn read_id_registers() -> IdRegisters {
    use aarch64_cpu::registers::{
        ID_AA64ISAR0_EL1, ID_AA64ISAR1_EL1, ID_AA64MMFR2_EL1, ID_AA64PFR0_EL1, Readable,
    };
    IdRegisters {
        isar0: ID_AA64ISAR0_EL1.get(),
        isar1: ID_AA64ISAR1_EL1.get(),
        pfr0: ID_AA64PFR0_EL1.get(),
        mmfr2: ID_AA64MMFR2_EL1.get(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cortex_a72_features() {
        // Cortex-A72: ISAR0 0x11120 (AES+PMULL, SHA1, SHA2, CRC32), PFR0 0x2222 (EL0-EL3 with
        // AArch32; FP and AdvSIMD implemented without fp16), ISAR1 0, MMFR2 0.
        let caps = hwcap_from(IdRegisters {
            isar0: 0x11120,
            isar1: 0,
            pfr0: 0x2222,
            mmfr2: 0,
        });
        assert_eq!(
            caps,
            HWCAP_FP
                | HWCAP_ASIMD
                | HWCAP_AES
                | HWCAP_PMULL
                | HWCAP_SHA1
                | HWCAP_SHA2
                | HWCAP_CRC32
        );
    }

    #[test]
    fn no_fp_means_no_fp_caps() {
        let caps = hwcap_from(IdRegisters {
            pfr0: 0xff << 16,
            ..Default::default()
        });
        assert_eq!(
            caps & (HWCAP_FP | HWCAP_ASIMD | HWCAP_FPHP | HWCAP_ASIMDHP),
            0
        );
    }

    #[test]
    fn newer_features() {
        let caps = hwcap_from(IdRegisters {
            isar0: (2 << 20) | (1 << 28) | (2 << 12) | (1 << 44) | (1 << 52),
            isar1: 1 | (2 << 20) | (1 << 36) | (1 << 12),
            pfr0: (1 << 16) | (1 << 20),
            mmfr2: 1 << 32,
        });
        for bit in [
            HWCAP_ATOMICS,
            HWCAP_ASIMDRDM,
            HWCAP_SHA2,
            HWCAP_SHA512,
            HWCAP_ASIMDDP,
            HWCAP_FLAGM,
            HWCAP_DCPOP,
            HWCAP_LRCPC,
            HWCAP_ILRCPC,
            HWCAP_SB,
            HWCAP_JSCVT,
            HWCAP_FP,
            HWCAP_FPHP,
            HWCAP_ASIMD,
            HWCAP_ASIMDHP,
            HWCAP_USCAT,
        ] {
            assert_ne!(caps & bit, 0, "bit {bit:#x}");
        }
        assert_eq!(caps & (HWCAP_AES | HWCAP_SHA1 | HWCAP_FCMA), 0);
    }
}

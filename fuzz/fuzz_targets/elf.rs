//! Fuzz target: the ELF load planner (`kernel_core::elf::plan`) on both machines' user ranges,
//! with the raw input as an image and as an edit script over valid executables and static-pies.
#![no_main]

use cyphera_fuzz::{MACHINES, PIE_BASE, check_plan, edit, elf_seed};
use kernel_core::elf;
use libfuzzer_sys::fuzz_target;

fn plan_all(image: &[u8], pie_base: u64) {
    for (machine, user_end) in MACHINES {
        match elf::plan(image, machine, user_end, pie_base) {
            Ok(plan) => check_plan(&plan, image, user_end),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    plan_all(data, PIE_BASE);
    if let Some((&selector, script)) = data.split_first() {
        let (machine, _) = MACHINES[usize::from(selector & 1)];
        let seed = elf_seed(machine, selector & 2 != 0);
        // Odd PIE bases too: the top bits of the selector pick one.
        let pie_base = [PIE_BASE, 0, 0x1_0000, u64::MAX - 0xfff][usize::from(selector >> 6)];
        plan_all(&edit(&seed, script), pie_base);
    }
});

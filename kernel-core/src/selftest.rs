//! `cyphera.selftest=NAME`: before init's first instruction, the kernel breaks one hardware
//! protection on purpose (see `hal::protection::Violation`) to show on a running machine that
//! the protection is on. The arch does the access; a working protection turns it into a kernel
//! fault that the arch's fault handler names, then the usual panic and power-off. The tests in
//! `cargo xtask test` boot once per violation and look for that explanation.

use crate::task::{Kernel, Tid};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use hal::arch::Arch;
use hal::protection::Violation;
use hal::user::UserContext;

/// Status when a selftest's access went through: the protection it demonstrates is off.
pub const PROTECTION_OFF: u8 = 3;

/// Runs the selftest `name` against `init`'s address space. Returns only when it could not be
/// run (an unknown name, init's pages unusable) or when the violation was not stopped; the error
/// says which, with the status to power off with.
pub fn run<A: Arch>(kernel: &mut Kernel<A>, init: Tid, name: &str) -> (u8, String) {
    let Some(violation) = Violation::from_name(name) else {
        let known: Vec<&str> = Violation::ALL.iter().map(|v| v.name()).collect();
        return (
            PROTECTION_OFF,
            format!("unknown selftest {name:?}; known: {}", known.join(", ")),
        );
    };
    let thread = &kernel.threads[&init];
    // The top of init's initial stack is present and writable (the arguments are there); its
    // entry point is executable. Touch both through the checked helpers first so that they are
    // populated: the violation must be the only reason for the fault.
    let user_data = thread.context.stack_pointer();
    let user_code = thread.context.pc();
    let user = kernel.user(init);
    let mut byte = [0u8; 1];
    let populated = user
        .vm
        .read_user(user_code, &mut byte, user.frames)
        .and_then(|()| user.vm.read_user(user_data, &mut byte, user.frames))
        .and_then(|()| user.vm.write_user(user_data, &byte, user.frames));
    if let Err(e) = populated {
        return (
            PROTECTION_OFF,
            format!("selftest {name}: init's stack or code is not usable: {e:?}"),
        );
    }
    crate::kprintln!(
        "cyphera: selftest {name}: breaking the protection on purpose (user data {user_data:#x}, user code {user_code:#x})"
    );
    A::attempt_violation(violation, user.vm.space(), user_data, user_code);
    (
        PROTECTION_OFF,
        format!("selftest {name}: NOT stopped: the protection is off"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn the_violation_gets_present_user_pages_and_a_return_is_a_failure() {
        let mut k = testing::kernel_with_program();
        let init = testing::first_thread(&k);
        let (status, why) = run(&mut k, init, "write-user");
        assert_eq!(status, PROTECTION_OFF);
        assert!(why.contains("NOT stopped"), "{why}");
        let (violation, data, code) = testing::last_violation().expect("attempted");
        assert_eq!(violation, Violation::WriteUser);
        let context = &k.threads[&init].context;
        assert_eq!((data, code), (context.stack_pointer(), context.pc()));
        let space = k.user(init).vm.space();
        let data_flags = hal::mmu::AddressSpace::query(space, data).expect("stack mapped");
        let code_flags = hal::mmu::AddressSpace::query(space, code).expect("code mapped");
        assert!(data_flags.write && code_flags.execute);
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let mut k = testing::kernel_with_program();
        let init = testing::first_thread(&k);
        let (_, why) = run(&mut k, init, "smep");
        assert!(
            why.contains("read-user") && why.contains("stack-overflow"),
            "{why}"
        );
        assert!(testing::last_violation().is_none());
    }
}

//! The ELF entry point. Linux starts a program with the stack pointer at `argc`, followed by the
//! argv pointers and a null, the envp pointers and a null, then the auxiliary vector as
//! (type, value) pairs ending with AT_NULL. `_start` hands that address to [`rt_entry`], which
//! wraps it in an [`Env`], calls the program's `main` and exits with its result.

use core::ffi::CStr;

/// Auxiliary vector types (include/uapi/linux/auxvec.h), the ones the test programs look at.
pub mod at {
    pub const NULL: usize = 0;
    pub const PHDR: usize = 3;
    pub const PHENT: usize = 4;
    pub const PHNUM: usize = 5;
    pub const PAGESZ: usize = 6;
    pub const ENTRY: usize = 9;
    pub const RANDOM: usize = 25;
}

/// What the kernel passed on the initial stack.
pub struct Env {
    argc: usize,
    argv: *const *const u8,
    envp: *const *const u8,
    envc: usize,
    auxv: *const [usize; 2],
}

impl Env {
    /// Reads the initial stack layout at `sp`.
    ///
    /// # Safety
    /// `sp` must be the stack pointer the kernel started the program with.
    unsafe fn from_initial_stack(sp: *const usize) -> Env {
        // SAFETY: per the ELF ABI the words at sp are argc, argc argv pointers, a null, the envp
        // pointers up to a null, then the auxv pairs; all live as long as the process.
        unsafe {
            let argc = *sp;
            let argv = sp.add(1) as *const *const u8;
            let envp = argv.add(argc + 1);
            let mut envc = 0;
            while !(*envp.add(envc)).is_null() {
                envc += 1;
            }
            let auxv = envp.add(envc + 1) as *const [usize; 2];
            Env {
                argc,
                argv,
                envp,
                envc,
                auxv,
            }
        }
    }

    /// The number of arguments, argv[0] included.
    pub fn argc(&self) -> usize {
        self.argc
    }

    /// argv[i] as bytes (without the terminating NUL), if it exists.
    pub fn arg(&self, i: usize) -> Option<&'static [u8]> {
        if i >= self.argc {
            return None;
        }
        // SAFETY: i < argc, so argv[i] is one of the kernel's NUL-terminated strings (or null,
        // which a broken kernel could pass and which is reported as absent).
        unsafe { cstr(*self.argv.add(i)) }
    }

    /// The kernel's argv array (null-terminated), for passing on to execve.
    pub fn argv_ptr(&self) -> *const *const u8 {
        self.argv
    }

    /// The kernel's envp array (null-terminated), for passing on to execve.
    pub fn envp_ptr(&self) -> *const *const u8 {
        self.envp
    }

    /// The value of environment variable `name`, if set.
    pub fn var(&self, name: &[u8]) -> Option<&'static [u8]> {
        self.vars().find_map(|v| {
            let rest = v.strip_prefix(name)?;
            rest.strip_prefix(b"=")
        })
    }

    /// The environment strings (`NAME=value`), in order.
    pub fn vars(&self) -> impl Iterator<Item = &'static [u8]> + '_ {
        // SAFETY: i < envc, so envp[i] is one of the kernel's NUL-terminated strings.
        (0..self.envc).filter_map(move |i| unsafe { cstr(*self.envp.add(i)) })
    }

    /// The value of auxiliary vector entry `key`, if the kernel supplied it.
    pub fn aux(&self, key: usize) -> Option<usize> {
        let mut i = 0;
        loop {
            // SAFETY: the auxv array is terminated by an AT_NULL entry, so every pair read
            // before reaching it is inside the array.
            let [k, v] = unsafe { *self.auxv.add(i) };
            if k == at::NULL {
                return None;
            }
            if k == key {
                return Some(v);
            }
            i += 1;
        }
    }
}

/// # Safety
/// `p` must be null or point to a NUL-terminated string that lives for the whole program.
unsafe fn cstr(p: *const u8) -> Option<&'static [u8]> {
    if p.is_null() {
        return None;
    }
    // SAFETY: per the contract above.
    Some(unsafe { CStr::from_ptr(p.cast()) }.to_bytes())
}

unsafe extern "Rust" {
    /// The program's main, defined by `rt::main!`.
    safe fn __rt_main(env: &Env) -> i32;
}

/// Called by `_start` with the initial stack pointer and an ABI-aligned stack.
///
/// # Safety
/// Only `_start` calls this, with the kernel's initial stack pointer.
unsafe extern "C" fn rt_entry(sp: *const usize) -> ! {
    // SAFETY: `_start` passes the initial stack pointer untouched.
    let env = unsafe { Env::from_initial_stack(sp) };
    crate::exit(__rt_main(&env))
}

/// The ELF entry point (x86_64): pass the initial rsp to [`rt_entry`] with rsp realigned to 16
/// bytes before the call, as the SysV ABI requires, and the frame pointer zeroed to end backtraces.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
unsafe extern "C" fn _start() -> ! {
    core::arch::naked_asm!(
        "xor ebp, ebp",
        "mov rdi, rsp",
        "and rsp, -16",
        "call {entry}",
        "ud2",
        entry = sym rt_entry,
    )
}

/// The ELF entry point (AArch64): pass the initial sp (16-byte aligned by the kernel) to
/// [`rt_entry`], with the frame pointer and link register zeroed to end backtraces.
#[cfg(target_arch = "aarch64")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
unsafe extern "C" fn _start() -> ! {
    core::arch::naked_asm!(
        "mov x29, xzr",
        "mov x30, xzr",
        "mov x0, sp",
        "bl {entry}",
        "udf #0",
        entry = sym rt_entry,
    )
}

/// The address of the ELF entry point, for programs that check AT_ENTRY.
pub fn entry_address() -> usize {
    _start as *const () as usize
}

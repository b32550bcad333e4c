//! Prints what the kernel put on the initial stack — argc, every argv and envp string — and checks
//! the auxiliary vector: AT_PAGESZ is 4096, AT_ENTRY is this program's entry point, AT_PHDR and
//! AT_PHNUM describe this program's own program headers, AT_RANDOM points at 16 readable bytes.
//! Values that differ between runs (addresses, random bytes) are checked, not printed, so the
//! output is the same on Linux and Cyphera. Exits 0 only if every check passed.
#![no_std]
#![no_main]

use rt::println;
use rt::start::at;

rt::main!(main);

unsafe extern "C" {
    /// The ELF header, placed by the linker at the start of the first loaded segment.
    static __ehdr_start: [u8; 64];
}

fn main(env: &rt::Env) -> i32 {
    println!("argc={}", env.argc());
    for i in 0..env.argc() {
        println!("argv[{i}]={}", Show(env.arg(i).unwrap_or(b"(null)")));
    }
    for (i, var) in env.vars().enumerate() {
        println!("envp[{i}]={}", Show(var));
    }

    let mut ok = true;
    let mut check = |name: &str, result: Result<(), &str>| match result {
        Ok(()) => println!("{name}: ok"),
        Err(why) => {
            println!("{name}: FAILED: {why}");
            ok = false;
        }
    };

    check(
        "AT_PAGESZ",
        match env.aux(at::PAGESZ) {
            Some(4096) => Ok(()),
            Some(_) => Err("not 4096"),
            None => Err("missing"),
        },
    );
    check(
        "AT_ENTRY",
        match env.aux(at::ENTRY) {
            Some(e) if e == rt::start::entry_address() => Ok(()),
            Some(_) => Err("not the address of _start"),
            None => Err("missing"),
        },
    );
    let (phdr, phnum) = own_program_headers();
    check(
        "AT_PHDR",
        match env.aux(at::PHDR) {
            Some(p) if p == phdr => Ok(()),
            Some(_) => Err("not where this program's headers are loaded"),
            None => Err("missing"),
        },
    );
    check(
        "AT_PHNUM",
        match env.aux(at::PHNUM) {
            Some(n) if n == phnum => Ok(()),
            Some(_) => Err("not e_phnum"),
            None => Err("missing"),
        },
    );
    check(
        "AT_PHENT",
        match env.aux(at::PHENT) {
            Some(56) => Ok(()),
            Some(_) => Err("not 56 (sizeof Elf64_Phdr)"),
            None => Err("missing"),
        },
    );
    check(
        "AT_RANDOM",
        match env.aux(at::RANDOM) {
            Some(0) => Err("null"),
            Some(p) => {
                // SAFETY: AT_RANDOM points to 16 bytes the kernel placed on the stack; reading
                // them proves they are mapped (a bad pointer faults, failing the test loudly).
                let bytes = unsafe { core::ptr::read_volatile(p as *const [u8; 16]) };
                let _ = bytes;
                Ok(())
            }
            None => Err("missing"),
        },
    );
    if ok { 0 } else { 1 }
}

/// Where this program's program headers are in memory, and how many there are, read from its own
/// ELF header: e_phoff (offset 32) from the header's load address, e_phnum (offset 56).
fn own_program_headers() -> (usize, usize) {
    // SAFETY: the linker defines __ehdr_start as the loaded ELF header (64 bytes for ELF64).
    let ehdr: &[u8; 64] = unsafe { &*core::ptr::addr_of!(__ehdr_start) };
    let base = ehdr.as_ptr() as usize;
    let mut phoff = [0u8; 8];
    phoff.copy_from_slice(&ehdr[32..40]);
    let phnum = u16::from_le_bytes([ehdr[56], ehdr[57]]);
    (
        base + u64::from_le_bytes(phoff) as usize,
        usize::from(phnum),
    )
}

/// Shows bytes as text, escaping what is not printable ASCII so that output stays one line.
struct Show<'a>(&'a [u8]);

impl core::fmt::Display for Show<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for &b in self.0 {
            if (0x20..0x7f).contains(&b) && b != b'\\' {
                core::fmt::Write::write_char(f, char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

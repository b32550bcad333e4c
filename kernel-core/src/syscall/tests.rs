//! Host tests of the syscall layer on the mock architecture: exec a tiny ELF, then drive calls
//! through the same `handle` path the real user loop uses.

use super::*;
use crate::memory::BitmapFrameAllocator;
use crate::process::{self, Process};
use crate::testing::{MockArch, RecordingConsole, tiny_elf};
use hal::boot::PhysRange;
use hal::mmu::{AddressSpace, PAGE_SIZE};

const EFAULT: u64 = Errno::EFAULT.as_return();

struct Fixture {
    frames: BitmapFrameAllocator,
    console: RecordingConsole,
    process: Option<Process<MockArch>>,
    baseline: u64,
}

impl Fixture {
    fn new() -> Self {
        let frames = BitmapFrameAllocator::new(&[PhysRange::new(0x100_0000, 4096 * PAGE_SIZE)]);
        let baseline = frames.free_frames();
        let mut f = Self {
            frames,
            console: RecordingConsole::default(),
            process: None,
            baseline,
        };
        let image = tiny_elf(&[0x0f, 0x05], 0x2000);
        let argv: [&[u8]; 2] = [b"/init", b"arg1"];
        let envp: [&[u8]; 1] = [b"HOME=/"];
        f.process = Some(
            process::exec::<MockArch>(1, "/init", &image, &argv, &envp, &mut f.frames)
                .expect("exec"),
        );
        f
    }

    fn process(&mut self) -> &mut Process<MockArch> {
        self.process.as_mut().unwrap()
    }

    /// Makes a system call with x86_64 numbering, as the mock arch decodes it.
    fn call(&mut self, number: u64, args: [u64; 6]) -> Outcome {
        let mut process = self.process.take().unwrap();
        process.context.number = number;
        process.context.args = args;
        let outcome = handle(
            &mut Kernel::new(&mut self.frames, &self.console),
            &mut process,
        );
        self.process = Some(process);
        outcome
    }

    /// A writable user address inside the bss of the tiny ELF.
    fn scratch(&mut self, bytes: &[u8]) -> u64 {
        let at = 0x60_0000;
        self.process().space.write_user(at, bytes, false).unwrap();
        at
    }

    fn output(&self) -> Vec<u8> {
        self.console.output.lock().clone()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(p) = self.process.take() {
            p.destroy(&mut self.frames);
            if !std::thread::panicking() {
                assert_eq!(self.frames.free_frames(), self.baseline, "frames leaked");
            }
        }
    }
}

#[test]
fn write_copies_user_bytes_to_the_console() {
    let mut f = Fixture::new();
    let buf = f.scratch(b"Hello, world!\n");
    assert_eq!(f.call(1, [1, buf, 14, 0, 0, 0]), Outcome::Return(14));
    assert_eq!(f.process().context.ret, 14);
    assert_eq!(f.output(), b"Hello, world!\n");
}

#[test]
fn write_with_bad_pointers_is_efault_and_writes_nothing() {
    let mut f = Fixture::new();
    for bad in [
        0x10,
        0xffff_8000_0000_0000,
        u64::MAX - 3,
        MockArch::USER_END - 4,
    ] {
        assert_eq!(
            f.call(1, [1, bad, 8, 0, 0, 0]),
            Outcome::Return(EFAULT),
            "pointer {bad:#x}"
        );
    }
    assert!(f.output().is_empty());
}

#[test]
fn write_running_into_an_unmapped_page_is_a_short_write() {
    let mut f = Fixture::new();
    // The bss is two pages at 0x60_0000; the third page is unmapped.
    let last = 0x60_2000 - 5;
    f.process().space.write_user(last, b"abcde", false).unwrap();
    assert_eq!(f.call(1, [1, last, 100, 0, 0, 0]), Outcome::Return(5));
    assert_eq!(f.output(), b"abcde");
}

#[test]
fn write_to_a_closed_descriptor_is_ebadf() {
    let mut f = Fixture::new();
    let buf = f.scratch(b"x");
    assert_eq!(
        f.call(1, [7, buf, 1, 0, 0, 0]),
        Outcome::Return(Errno::EBADF.as_return())
    );
}

#[test]
fn writev_gathers_and_checks_its_vector() {
    let mut f = Fixture::new();
    let base = 0x60_0000u64;
    let space = &f.process().space;
    space.write_user(base + 0x100, b"Hello, ", false).unwrap();
    space.write_user(base + 0x200, b"world!\n", false).unwrap();
    let mut iov = Vec::new();
    for (addr, len) in [(base + 0x100, 7u64), (base + 0x200, 7)] {
        iov.extend_from_slice(&addr.to_le_bytes());
        iov.extend_from_slice(&len.to_le_bytes());
    }
    space.write_user(base, &iov, false).unwrap();
    assert_eq!(f.call(20, [1, base, 2, 0, 0, 0]), Outcome::Return(14));
    assert_eq!(f.output(), b"Hello, world!\n");
    // Bad vector address, too many vectors, overflowing total.
    assert_eq!(f.call(20, [1, 0x10, 2, 0, 0, 0]), Outcome::Return(EFAULT));
    assert_eq!(
        f.call(20, [1, base, 1025, 0, 0, 0]),
        Outcome::Return(Errno::EINVAL.as_return())
    );
    let mut huge = Vec::new();
    for len in [u64::MAX / 2, u64::MAX / 2 + 10] {
        huge.extend_from_slice(&(base + 0x100).to_le_bytes());
        huge.extend_from_slice(&len.to_le_bytes());
    }
    f.process()
        .space
        .write_user(base + 0x400, &huge, false)
        .unwrap();
    assert_eq!(
        f.call(20, [1, base + 0x400, 2, 0, 0, 0]),
        Outcome::Return(Errno::EINVAL.as_return())
    );
    // A zero-length vector writes nothing and succeeds.
    assert_eq!(f.call(20, [1, base, 0, 0, 0, 0]), Outcome::Return(0));
}

#[test]
fn exit_and_exit_group_keep_the_low_eight_bits() {
    let mut f = Fixture::new();
    assert_eq!(f.call(60, [42, 0, 0, 0, 0, 0]), Outcome::Exit(42));
    assert_eq!(f.call(231, [300, 0, 0, 0, 0, 0]), Outcome::Exit(44));
}

#[test]
fn getpid_is_the_pid() {
    let mut f = Fixture::new();
    assert_eq!(f.call(39, [0; 6]), Outcome::Return(1));
}

#[test]
fn uname_fills_struct_utsname() {
    let mut f = Fixture::new();
    let buf = 0x60_0100;
    assert_eq!(f.call(63, [buf, 0, 0, 0, 0, 0]), Outcome::Return(0));
    let raw = f.process().space.peek(buf, 6 * 65);
    let field = |i: usize| {
        let f = &raw[i * 65..(i + 1) * 65];
        String::from_utf8(f[..f.iter().position(|&b| b == 0).unwrap()].to_vec()).unwrap()
    };
    assert_eq!(field(0), "Linux");
    assert_eq!(field(1), "cyphera");
    assert!(field(2).starts_with("6.1.0"));
    assert_eq!(field(4), "mock64");
    assert_eq!(f.call(63, [0x10, 0, 0, 0, 0, 0]), Outcome::Return(EFAULT));
}

#[test]
fn brk_grows_shrinks_and_refuses_like_linux() {
    let mut f = Fixture::new();
    let start = f.process().brk.start;
    assert_eq!(start % PAGE_SIZE, 0);
    let free_before = f.frames.free_frames();
    assert_eq!(f.call(12, [0; 6]), Outcome::Return(start));
    assert_eq!(
        f.call(12, [start + 0x2800, 0, 0, 0, 0, 0]),
        Outcome::Return(start + 0x2800)
    );
    assert_eq!(f.frames.free_frames(), free_before - 3);
    // The new memory is zeroed and writable.
    f.process()
        .space
        .write_user(start + 0x27ff, b"z", false)
        .unwrap();
    assert_eq!(f.process().space.peek(start, 4), [0; 4]);
    // Shrinking returns whole pages.
    assert_eq!(
        f.call(12, [start + 0x10, 0, 0, 0, 0, 0]),
        Outcome::Return(start + 0x10)
    );
    assert_eq!(f.frames.free_frames(), free_before - 1);
    // Below the start or absurdly high: refused, the break stays.
    assert_eq!(
        f.call(12, [start - 0x1000, 0, 0, 0, 0, 0]),
        Outcome::Return(start + 0x10)
    );
    assert_eq!(
        f.call(12, [u64::MAX, 0, 0, 0, 0, 0]),
        Outcome::Return(start + 0x10)
    );
}

#[test]
fn brk_failing_for_lack_of_memory_changes_nothing() {
    let mut f = Fixture::new();
    let start = f.process().brk.start;
    let free = f.frames.free_frames();
    // Ask for more pages than there are free frames (but within BRK_MAX).
    let request = start + (free + 10) * PAGE_SIZE;
    assert_eq!(f.call(12, [request, 0, 0, 0, 0, 0]), Outcome::Return(start));
    assert_eq!(f.frames.free_frames(), free);
}

#[test]
fn unknown_and_unimplemented_calls_are_enosys() {
    let mut f = Fixture::new();
    let enosys = Outcome::Return(Errno::ENOSYS.as_return());
    assert_eq!(f.call(0x7fff, [0; 6]), enosys);
    assert_eq!(f.call(0x7fff, [0; 6]), enosys);
    assert_eq!(f.call(u64::MAX, [0; 6]), enosys);
    // read is a real Linux call that this stage does not implement.
    assert_eq!(f.call(0, [0; 6]), enosys);
}

#[test]
fn exec_lays_out_the_initial_stack() {
    let mut f = Fixture::new();
    let p = f.process();
    assert_eq!(p.context.pc, 0x40_1000);
    assert_eq!(p.name, "init");
    let sp = p.context.sp;
    assert_eq!(sp % 16, 0);
    let word = |at: u64| u64::from_le_bytes(p.space.peek(at, 8).try_into().unwrap());
    assert_eq!(word(sp), 2, "argc");
    let argv0 = word(sp + 8);
    assert_eq!(p.space.peek(argv0, 6), b"/init\0");
    assert_eq!(word(sp + 24), 0, "argv terminator");
    // The code landed at the entry point.
    assert_eq!(p.space.peek(0x40_1000, 2), [0x0f, 0x05]);
    // Text is not writable; data is not executable.
    assert_eq!(
        p.space.query(0x40_1000),
        Some(hal::mmu::PageFlags::READ_EXECUTE)
    );
    assert_eq!(
        p.space.query(0x60_0000),
        Some(hal::mmu::PageFlags::READ_WRITE)
    );
}

#[test]
fn exec_of_garbage_fails_and_frees_everything() {
    let mut frames = BitmapFrameAllocator::new(&[PhysRange::new(0x100_0000, 512 * PAGE_SIZE)]);
    let before = frames.free_frames();
    let argv: [&[u8]; 1] = [b"/init"];
    assert!(
        process::exec::<MockArch>(1, "/init", b"#!/bin/sh\necho hi\n", &argv, &[], &mut frames)
            .is_err()
    );
    // Valid ELF, but too little memory for its stack: the partial image is torn down.
    let mut small = BitmapFrameAllocator::new(&[PhysRange::new(0x100_0000, 16 * PAGE_SIZE)]);
    let image = tiny_elf(&[0x90], 0);
    assert!(process::exec::<MockArch>(1, "/init", &image, &argv, &[], &mut small).is_err());
    assert_eq!(small.free_frames(), 16);
    assert_eq!(frames.free_frames(), before);
}

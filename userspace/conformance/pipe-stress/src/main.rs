//! Conformance: pipes under load, where a kernel deadlocks, loses or reorders data. A pipeline of
//! 50 processes each copying stdin to stdout passes 1 MiB through intact; 64 MiB go through one
//! pipe in 16 MiB `write` calls (each returns the whole count) read back in odd sizes, checked by
//! a hash of the whole stream; a 256 KiB write to a reader that sleeps between reads completes;
//! a nonblocking pipe takes exactly its 64 KiB, then refuses with EAGAIN, takes a partial write
//! when a page frees, refuses a PIPE_BUF-sized write that does not fit whole, merges one that
//! does; four writers at once never interleave their records of 1000 and of 4096 (PIPE_BUF)
//! bytes; a write with no reader is EPIPE (SIGPIPE ignored) or kills with SIGPIPE.
//!
//! The data is a deterministic pseudo-random stream, so every reader knows what it must see;
//! a stuck pipe shows up as the harness's timeout.
#![no_std]
#![no_main]

use rt::check;
use rt::errno::{EAGAIN, EPIPE};
use rt::io::write;
use rt::println;
use rt::signal::{self, SIG_IGN, SIGPIPE};
use rt::sys::{self, PROT_READ, PROT_WRITE, Status};

rt::main!(main);

const F_GETFL: usize = 3;
const F_SETFL: usize = 4;
const F_GETPIPE_SZ: usize = 1032;
const O_NONBLOCK: usize = 0o4000;
const PIPE_SIZE: usize = 65536;
const PIPE_BUF: usize = 4096;

/// Byte `i` of the test stream: the little-endian bytes of splitmix64 of each word index.
struct Stream {
    pos: u64,
    word: [u8; 8],
}

impl Stream {
    fn new() -> Stream {
        Stream {
            pos: 0,
            word: mix(0).to_le_bytes(),
        }
    }

    fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            *b = self.word[(self.pos % 8) as usize];
            self.pos += 1;
            if self.pos.is_multiple_of(8) {
                self.word = mix(self.pos / 8).to_le_bytes();
            }
        }
    }
}

fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a over a byte stream, fed piece by piece.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Hash(u64);

impl Hash {
    fn new() -> Hash {
        Hash(0xcbf2_9ce4_8422_2325)
    }
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// The hash of the first `len` bytes of the stream, computed without any pipe.
fn expected(len: usize) -> Hash {
    let mut s = Stream::new();
    let mut h = Hash::new();
    let mut buf = [0u8; 4096];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len());
        s.fill(&mut buf[..n]);
        h.feed(&buf[..n]);
        left -= n;
    }
    h
}

fn spawn(f: impl FnOnce() -> i32) -> sys::Pid {
    let pid = sys::fork();
    if pid == 0 {
        rt::exit(f());
    }
    if pid < 0 {
        check::fail("fork", rt::errno::Ret(pid));
    }
    pid as sys::Pid
}

fn close_all_but(keep: &[i32]) {
    for fd in 3..64 {
        if !keep.contains(&fd) {
            sys::close(fd);
        }
    }
}

fn write_all(fd: i32, buf: &[u8]) -> bool {
    rt::io::write_all(fd, buf).is_ok()
}

/// Reads `fd` to end-of-file in reads of the sizes in `sizes` (cycled): (bytes, hash).
fn drain(fd: i32, sizes: &[usize], buf: &mut [u8]) -> (usize, Hash) {
    let (mut total, mut h, mut i) = (0, Hash::new(), 0);
    loop {
        let want = sizes[i % sizes.len()].min(buf.len());
        i += 1;
        let n = sys::read(fd, &mut buf[..want]);
        if n <= 0 {
            if n < 0 {
                check::fail("read", rt::errno::Ret(n));
            }
            return (total, h);
        }
        h.feed(&buf[..n as usize]);
        total += n as usize;
    }
}

/// A child that copies `input` to `output` until end-of-file.
fn copier(input: i32, output: i32) -> i32 {
    let mut buf = [0u8; 8192];
    loop {
        let n = sys::read(input, &mut buf);
        if n == 0 {
            return 0;
        }
        if n < 0 {
            return 1;
        }
        if !write_all(output, &buf[..n as usize]) {
            return 2;
        }
    }
}

/// A child that writes the first `len` bytes of the stream in writes cycling through `sizes`.
fn producer(fd: i32, len: usize, sizes: &[usize]) -> i32 {
    let mut s = Stream::new();
    let mut buf = [0u8; 16384];
    let (mut left, mut i) = (len, 0);
    while left > 0 {
        let n = sizes[i % sizes.len()].min(left).min(buf.len());
        i += 1;
        s.fill(&mut buf[..n]);
        if !write_all(fd, &buf[..n]) {
            return 1;
        }
        left -= n;
    }
    0
}

fn pipeline() {
    const STAGES: usize = 50;
    const LEN: usize = 1 << 20;
    println!("a pipeline of {STAGES} processes:");
    let Ok([first_r, first_w]) = sys::pipe2(0) else {
        check::fail("pipe2", "failed");
        return;
    };
    let mut prev = first_r;
    let mut pids = [0; STAGES + 1];
    for pid in pids.iter_mut().take(STAGES) {
        let Ok([r, w]) = sys::pipe2(0) else {
            check::fail("pipe2", "failed");
            return;
        };
        *pid = spawn(|| {
            close_all_but(&[prev, w]);
            copier(prev, w)
        });
        sys::close(prev);
        sys::close(w);
        prev = r;
    }
    pids[STAGES] = spawn(|| {
        close_all_but(&[first_w]);
        producer(first_w, LEN, &[1, 100, 4096, 5000, 16384, 3])
    });
    sys::close(first_w);
    let mut buf = [0u8; 65536];
    let (total, hash) = drain(prev, &[65536, 1, 777], &mut buf);
    sys::close(prev);
    check::eq("  bytes out of the last stage", total, LEN);
    check::yes("  the same bytes as went in", hash == expected(LEN));
    let all_ok = pids.iter().all(|&p| sys::wait_for(p) == 0);
    check::yes("  every stage exited 0", all_ok);
}

fn huge() {
    const CHUNK: usize = 16 << 20;
    const CHUNKS: usize = 4;
    println!("64 MiB through one pipe:");
    let Ok([r, w]) = sys::pipe2(0) else {
        check::fail("pipe2", "failed");
        return;
    };
    let writer = spawn(|| {
        sys::close(r);
        let buf = sys::mmap_anon(CHUNK, PROT_READ | PROT_WRITE);
        if buf < 0 {
            return 10;
        }
        // SAFETY: a fresh private mapping of CHUNK bytes, ours alone.
        let buf = unsafe { core::slice::from_raw_parts_mut(buf as *mut u8, CHUNK) };
        let mut s = Stream::new();
        for _ in 0..CHUNKS {
            s.fill(buf);
            // One call per chunk: a blocking pipe write returns only when all of it is in.
            if write(w, buf) != CHUNK as isize {
                return 11;
            }
        }
        0
    });
    sys::close(w);
    let mut buf = [0u8; 100_000];
    let (total, hash) = drain(r, &[100_000, 4095, 1, 65536, 8191], &mut buf);
    sys::close(r);
    check::eq("  bytes read", total, CHUNK * CHUNKS);
    check::yes(
        "  hash matches the stream",
        hash == expected(CHUNK * CHUNKS),
    );
    check::shows(
        "  writer (each 16 MiB write returned 16 MiB)",
        Status(sys::wait_for(writer)),
        "exited 0",
    );
}

fn slow_reader() {
    const LEN: usize = 256 << 10;
    println!("a write larger than the pipe to a slow reader:");
    let Ok([r, w]) = sys::pipe2(0) else {
        check::fail("pipe2", "failed");
        return;
    };
    let writer = spawn(|| {
        sys::close(r);
        static mut BUF: [u8; LEN] = [0; LEN];
        // SAFETY: this child is single-threaded and the only user of BUF.
        let buf = unsafe { &mut *core::ptr::addr_of_mut!(BUF) };
        Stream::new().fill(buf);
        if write(w, buf) == LEN as isize { 0 } else { 1 }
    });
    sys::close(w);
    let (mut total, mut h) = (0, Hash::new());
    let mut buf = [0u8; 16384];
    loop {
        sys::sleep_ms(10);
        let n = sys::read(r, &mut buf);
        if n <= 0 {
            break;
        }
        h.feed(&buf[..n as usize]);
        total += n as usize;
    }
    sys::close(r);
    check::eq("  bytes read", total, LEN);
    check::yes("  in order", h == expected(LEN));
    check::shows(
        "  the one write returned the whole count",
        Status(sys::wait_for(writer)),
        "exited 0",
    );
}

fn nonblocking() {
    println!("nonblocking:");
    let Ok([r, w]) = sys::pipe2(O_NONBLOCK) else {
        check::fail("pipe2(O_NONBLOCK)", "failed");
        return;
    };
    check::ret(
        "  F_GETPIPE_SZ",
        sys::fcntl(w, F_GETPIPE_SZ, 0),
        PIPE_SIZE as isize,
    );
    let mut src = [0u8; 100_000];
    Stream::new().fill(&mut src);
    let mut out = [0u8; 100_000];
    check::err("  read from empty", sys::read(r, &mut out[..10]), EAGAIN);
    check::ret(
        "  write 100000 to empty",
        write(w, &src),
        PIPE_SIZE as isize,
    );
    check::err("  write 1 to full", write(w, &src[..1]), EAGAIN);
    check::ret("  read 1000", sys::read(r, &mut out[..1000]), 1000);
    check::err("  write 1 (no page freed yet)", write(w, &src[..1]), EAGAIN);
    check::ret(
        "  read the rest of the first page",
        sys::read(r, &mut out[1000..4096]),
        3096,
    );
    check::ret(
        "  write 5000 (one page free): partial",
        write(w, &src[PIPE_SIZE..PIPE_SIZE + 5000]),
        4096,
    );
    check::err("  write 100", write(w, &src[..100]), EAGAIN);
    let n = sys::read(r, &mut out[4096..]);
    check::ret("  read all", n, PIPE_SIZE as isize);
    check::yes(
        "  68 KiB in the order written",
        out[..PIPE_SIZE + 4096] == src[..PIPE_SIZE + 4096],
    );
    check::err(
        "  read from empty again",
        sys::read(r, &mut out[..10]),
        EAGAIN,
    );

    // 15 pages, then 2096 bytes in the 16th: room for 2000 more only by merging into it.
    check::ret("  write 15 pages", write(w, &src[..15 * 4096]), 15 * 4096);
    check::ret("  write 2096", write(w, &src[..2096]), 2096);
    check::err(
        "  write 3000 (<= PIPE_BUF, does not fit whole)",
        write(w, &src[..3000]),
        EAGAIN,
    );
    check::ret("  write 2000 (fits whole)", write(w, &src[..2000]), 2000);
    check::err("  write 1", write(w, &src[..1]), EAGAIN);
    let n = sys::read(r, &mut out);
    check::ret("  read all", n, PIPE_SIZE as isize);
    let flags = sys::fcntl(r, F_GETFL, 0);
    check::ret(
        "  clear O_NONBLOCK on the read end",
        sys::fcntl(r, F_SETFL, flags as usize & !O_NONBLOCK),
        0,
    );
    sys::close(w);
    check::ret(
        "  read after the writer closed: end of file",
        sys::read(r, &mut out[..10]),
        0,
    );
    sys::close(r);

    let Ok([r, w]) = sys::pipe2(0) else {
        check::fail("pipe2", "failed");
        return;
    };
    sys::close(r);
    let old = signal::current(SIGPIPE).ok();
    signal::disposition(SIGPIPE, SIG_IGN);
    check::err(
        "  write with no reader, SIGPIPE ignored",
        write(w, b"x"),
        EPIPE,
    );
    if let Some(old) = old {
        signal::sigaction(SIGPIPE, Some(&old), None);
    }
    let child = spawn(|| {
        signal::disposition(SIGPIPE, signal::SIG_DFL);
        write(w, b"x");
        0
    });
    check::shows(
        "  the same with SIGPIPE's default action",
        Status(sys::wait_for(child)),
        "killed by 13",
    );
    sys::close(w);
}

/// Record `seq` of `writer`: its header and a pattern that depends on both.
fn record(writer: u8, seq: u16, out: &mut [u8]) {
    out[0] = writer;
    out[1..3].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in out.iter_mut().enumerate().skip(3) {
        *b = (writer as usize * 31 + seq as usize * 7 + i) as u8;
    }
}

fn atomic(size: usize, per_writer: u16) {
    const WRITERS: u8 = 4;
    println!("{WRITERS} writers, records of {size} bytes:");
    let Ok([r, w]) = sys::pipe2(0) else {
        check::fail("pipe2", "failed");
        return;
    };
    let mut pids = [0; WRITERS as usize];
    for (id, pid) in pids.iter_mut().enumerate() {
        *pid = spawn(|| {
            sys::close(r);
            let mut buf = [0u8; PIPE_BUF];
            for seq in 0..per_writer {
                record(id as u8, seq, &mut buf[..size]);
                if write(w, &buf[..size]) != size as isize {
                    return 1;
                }
            }
            0
        });
    }
    sys::close(w);
    let mut next = [0u16; WRITERS as usize];
    let (mut records, mut bad) = (0usize, 0usize);
    let mut rec = [0u8; PIPE_BUF];
    let mut want = [0u8; PIPE_BUF];
    let mut have = 0;
    let mut buf = [0u8; 7777];
    loop {
        let n = sys::read(r, &mut buf);
        if n <= 0 {
            break;
        }
        for &b in &buf[..n as usize] {
            rec[have] = b;
            have += 1;
            if have < size {
                continue;
            }
            have = 0;
            records += 1;
            let id = rec[0] as usize;
            let seq = u16::from_le_bytes([rec[1], rec[2]]);
            if id >= WRITERS as usize || seq != next[id] {
                bad += 1;
                continue;
            }
            record(id as u8, seq, &mut want[..size]);
            if rec[..size] != want[..size] {
                bad += 1;
            }
            next[id] += 1;
        }
    }
    sys::close(r);
    check::eq(
        "  records read",
        records,
        WRITERS as usize * per_writer as usize,
    );
    check::eq("  records mixed or out of order", bad, 0);
    check::eq("  bytes left over", have, 0);
    let all_ok = pids.iter().all(|&p| sys::wait_for(p) == 0);
    check::yes("  every writer exited 0", all_ok);
}

fn main(_env: &rt::Env) -> i32 {
    pipeline();
    huge();
    slow_reader();
    nonblocking();
    atomic(1000, 400);
    atomic(PIPE_BUF, 100);
    check::finish("pipe-stress")
}

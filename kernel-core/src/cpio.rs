//! The initramfs archive format: reading and writing cpio "newc" (magic `070701`, and the `070702`
//! "crc" variant, whose checksums are verified). The kernel reads the initramfs with [`entries`] and
//! [`find`]; xtask packs a root filesystem on the host with [`NewcWriter`].
//!
//! Layout of one entry: a 110-byte ASCII header (6-byte magic, then 13 fields of 8 hex digits),
//! the NUL-terminated name, zero padding to a multiple of 4, the data, zero padding to a multiple
//! of 4. Offsets are aligned relative to the start of the buffer, as Linux's initramfs unpacker
//! counts them. An archive ends with an entry named `TRAILER!!!`; several archives may follow each
//! other, separated by zero bytes.
//!
//! The archive comes from outside the kernel (the boot loader's initrd), so every size and offset
//! is checked: a malformed archive gives a [`CpioError`], never a panic or an out-of-bounds read.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

/// File type bits of `mode` and the types a root filesystem uses.
pub const S_IFMT: u32 = 0o170000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFCHR: u32 = 0o020000;

const HEADER_LEN: usize = 110;
const MAGIC_NEWC: &[u8; 6] = b"070701";
const MAGIC_CRC: &[u8; 6] = b"070702";
const TRAILER: &str = "TRAILER!!!";
/// Longest accepted name, NUL included: Linux's `PATH_MAX`, which its unpacker enforces too.
pub const MAX_NAME_SIZE: usize = 4096;

/// The 13 header fields in order, named for error messages.
const FIELDS: [&str; 13] = [
    "ino",
    "mode",
    "uid",
    "gid",
    "nlink",
    "mtime",
    "filesize",
    "devmajor",
    "devminor",
    "rdevmajor",
    "rdevminor",
    "namesize",
    "check",
];

/// One archive member. `data` is the file contents (for a symlink: the target path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: &'a str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub ino: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub data: &'a [u8],
}

impl Entry<'_> {
    /// The `S_IF*` type bits of `mode`.
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }
}

/// Why an archive could not be read (or an entry not written). `offset` is where in the buffer the
/// offending entry's header starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpioError {
    /// The magic is not `070701`/`070702` (old binary and `070707` odc formats are not supported).
    BadMagic { offset: usize },
    /// A header field holds something other than 8 hex digits.
    BadHex { offset: usize, field: &'static str },
    /// `namesize` is 0 or above [`MAX_NAME_SIZE`].
    BadNameSize { offset: usize, size: u32 },
    /// The name is not a NUL-terminated string without interior NULs.
    BadName { offset: usize },
    /// The name is not UTF-8.
    NameNotUtf8 { offset: usize },
    /// The buffer ends inside a header.
    TruncatedHeader { offset: usize },
    /// The name (or its padding) reaches past the end of the buffer.
    NameBeyondEnd { offset: usize },
    /// `filesize` reaches past the end of the buffer.
    DataBeyondEnd { offset: usize, size: u32 },
    /// The buffer ends before a `TRAILER!!!` entry.
    MissingTrailer,
    /// A `070702` regular file whose bytes do not add up to its checksum.
    ChecksumMismatch {
        offset: usize,
        expected: u32,
        actual: u32,
    },
    /// After a trailer, the next archive does not start on a 4-byte boundary.
    BrokenPadding { offset: usize },
    /// [`NewcWriter`]: the entry cannot be represented in a newc archive.
    Unrepresentable(&'static str),
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CpioError::BadMagic { offset } => write!(
                f,
                "bad cpio magic at offset {offset} (only newc 070701/070702 archives are supported)"
            ),
            CpioError::BadHex { offset, field } => {
                write!(
                    f,
                    "cpio header at offset {offset}: field {field} is not 8 hex digits"
                )
            }
            CpioError::BadNameSize { offset, size } => {
                write!(f, "cpio header at offset {offset}: bad name size {size}")
            }
            CpioError::BadName { offset } => write!(
                f,
                "cpio entry at offset {offset}: name is not a NUL-terminated string"
            ),
            CpioError::NameNotUtf8 { offset } => {
                write!(f, "cpio entry at offset {offset}: name is not UTF-8")
            }
            CpioError::TruncatedHeader { offset } => {
                write!(
                    f,
                    "truncated archive: header at offset {offset} is incomplete"
                )
            }
            CpioError::NameBeyondEnd { offset } => write!(
                f,
                "truncated archive: name of the entry at offset {offset} extends past the end"
            ),
            CpioError::DataBeyondEnd { offset, size } => write!(
                f,
                "truncated archive: {size} bytes of data of the entry at offset {offset} extend past the end"
            ),
            CpioError::MissingTrailer => f.write_str("truncated archive: no TRAILER!!! entry"),
            CpioError::ChecksumMismatch {
                offset,
                expected,
                actual,
            } => write!(
                f,
                "cpio entry at offset {offset}: data checksum {actual:#x} does not match {expected:#x}"
            ),
            CpioError::BrokenPadding { offset } => write!(
                f,
                "broken padding: archive at offset {offset} does not start on a 4-byte boundary"
            ),
            CpioError::Unrepresentable(why) => write!(f, "cannot write cpio entry: {why}"),
        }
    }
}

impl core::error::Error for CpioError {}

/// Iterates over the members of a newc archive (or of several concatenated ones), skipping the
/// trailers. Yields one `Err` and then ends if the archive is malformed or truncated; an archive
/// that is cut off where a header would start yields [`CpioError::MissingTrailer`].
pub fn entries(archive: &[u8]) -> Entries<'_> {
    Entries {
        archive,
        pos: 0,
        state: State::InArchive,
    }
}

/// The last member whose name matches `path` (later members replace earlier ones, as when Linux
/// unpacks an initramfs). Leading `/` and `./` and trailing `/` are ignored on both sides, so
/// "/init", "init" and "./init" all find an entry named "init" or "./init"; "/" finds ".".
/// newc stores a hard-linked file's bytes with only one of its names (GNU cpio: the last); for a
/// regular file with nlink > 1 and no data, `data` is taken from the member of its link group
/// (same device, inode and mode) that has it.
pub fn find<'a>(archive: &'a [u8], path: &str) -> Result<Option<Entry<'a>>, CpioError> {
    let wanted = normalise(path);
    let mut found = None;
    for entry in entries(archive) {
        let entry = entry?;
        if normalise(entry.name) == wanted {
            found = Some(entry);
        }
    }
    if let Some(f) = found
        .as_mut()
        .filter(|f| f.file_type() == S_IFREG && f.nlink > 1 && f.data.is_empty())
    {
        // The first pass read the whole archive without error, so flatten() drops nothing.
        for e in entries(archive).flatten() {
            let same = (e.dev_major, e.dev_minor, e.ino, e.mode)
                == (f.dev_major, f.dev_minor, f.ino, f.mode);
            if same && !e.data.is_empty() {
                f.data = e.data;
            }
        }
    }
    Ok(found)
}

fn normalise(mut path: &str) -> &str {
    loop {
        if let Some(rest) = path.strip_prefix('/') {
            path = rest;
        } else if let Some(rest) = path.strip_prefix("./") {
            path = rest;
        } else {
            break;
        }
    }
    let path = path.trim_end_matches('/');
    if path == "." { "" } else { path }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Expecting a header: the current archive has not ended yet.
    InArchive,
    /// A trailer was read: zero padding, another archive, or the end may follow.
    AfterTrailer,
    Done,
}

/// Iterator returned by [`entries`].
pub struct Entries<'a> {
    archive: &'a [u8],
    pos: usize,
    state: State,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, CpioError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.state {
                State::Done => return None,
                State::AfterTrailer => {
                    let rest = self.archive.get(self.pos..).unwrap_or(&[]);
                    self.pos += rest.iter().take_while(|&&b| b == 0).count();
                    if self.pos >= self.archive.len() {
                        self.state = State::Done;
                        return None;
                    }
                    if !self.pos.is_multiple_of(4) {
                        self.state = State::Done;
                        return Some(Err(CpioError::BrokenPadding { offset: self.pos }));
                    }
                    self.state = State::InArchive;
                }
                State::InArchive => {
                    if self.pos >= self.archive.len() {
                        self.state = State::Done;
                        return Some(Err(CpioError::MissingTrailer));
                    }
                    match parse_entry(self.archive, self.pos) {
                        Err(e) => {
                            self.state = State::Done;
                            return Some(Err(e));
                        }
                        Ok((entry, next)) => {
                            self.pos = next;
                            if entry.name == TRAILER {
                                self.state = State::AfterTrailer;
                            } else {
                                return Some(Ok(entry));
                            }
                        }
                    }
                }
            }
        }
    }
}

fn align4(x: usize) -> Option<usize> {
    x.checked_add(3).map(|v| v & !3)
}

fn parse_hex(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |acc, &d| {
        let v = (d as char).to_digit(16)?;
        Some(acc << 4 | v)
    })
}

/// Parses the member whose header starts at `pos`; returns it and where the next header starts
/// (which may be past the end of the buffer when the final padding is missing).
fn parse_entry(archive: &[u8], pos: usize) -> Result<(Entry<'_>, usize), CpioError> {
    let header = pos
        .checked_add(HEADER_LEN)
        .and_then(|end| archive.get(pos..end))
        .ok_or(CpioError::TruncatedHeader { offset: pos })?;
    let crc = match &header[..6] {
        m if m == MAGIC_NEWC => false,
        m if m == MAGIC_CRC => true,
        _ => return Err(CpioError::BadMagic { offset: pos }),
    };
    let mut fields = [0u32; 13];
    for (i, (value, name)) in fields.iter_mut().zip(FIELDS).enumerate() {
        let digits = &header[6 + 8 * i..6 + 8 * (i + 1)];
        *value = parse_hex(digits).ok_or(CpioError::BadHex {
            offset: pos,
            field: name,
        })?;
    }
    let [
        ino,
        mode,
        uid,
        gid,
        nlink,
        mtime,
        filesize,
        dev_major,
        dev_minor,
        rdev_major,
        rdev_minor,
        namesize,
        check,
    ] = fields;

    let name_len = namesize as usize;
    if name_len == 0 || name_len > MAX_NAME_SIZE {
        return Err(CpioError::BadNameSize {
            offset: pos,
            size: namesize,
        });
    }
    // pos + HEADER_LEN did not overflow (the header is in the buffer); name_len <= 4096.
    let name_start = pos + HEADER_LEN;
    let data_start =
        align4(name_start + name_len).ok_or(CpioError::NameBeyondEnd { offset: pos })?;
    if data_start > archive.len() {
        return Err(CpioError::NameBeyondEnd { offset: pos });
    }
    let name = match &archive[name_start..name_start + name_len] {
        [name @ .., 0] if !name.contains(&0) => name,
        _ => return Err(CpioError::BadName { offset: pos }),
    };
    let name = core::str::from_utf8(name).map_err(|_| CpioError::NameNotUtf8 { offset: pos })?;

    let data = usize::try_from(filesize)
        .ok()
        .and_then(|size| data_start.checked_add(size))
        .and_then(|end| archive.get(data_start..end))
        .ok_or(CpioError::DataBeyondEnd {
            offset: pos,
            size: filesize,
        })?;
    // Like GNU cpio and Linux, only regular files carry a checksum.
    if crc && mode & S_IFMT == S_IFREG {
        let actual = data
            .iter()
            .fold(0u32, |sum, &b| sum.wrapping_add(u32::from(b)));
        if actual != check {
            return Err(CpioError::ChecksumMismatch {
                offset: pos,
                expected: check,
                actual,
            });
        }
    }
    // data_start + data.len() is inside the buffer, so far from overflowing.
    let next = align4(data_start + data.len()).unwrap_or(usize::MAX);
    let entry = Entry {
        name,
        mode,
        uid,
        gid,
        nlink,
        mtime,
        ino,
        dev_major,
        dev_minor,
        rdev_major,
        rdev_minor,
        data,
    };
    Ok((entry, next))
}

/// Builds a newc archive in memory (magic `070701`, no checksums).
#[derive(Clone, Debug, Default)]
pub struct NewcWriter {
    out: Vec<u8>,
    next_ino: u32,
    /// (dev_major, dev_minor, original ino) of hard-linked entries given to `add_entry` → the inode
    /// number assigned to the group, so links stay links in the new archive.
    links: BTreeMap<(u32, u32, u32), u32>,
}

impl NewcWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a member owned by root with a fresh inode number; nlink is 2 for directories and 1
    /// otherwise. For a symlink, `data` is the target.
    ///
    /// # Panics
    /// If the entry cannot be represented (see [`NewcWriter::try_add_entry`]).
    pub fn add(&mut self, name: &str, mode: u32, mtime: u32, data: &[u8]) {
        let nlink = if mode & S_IFMT == S_IFDIR { 2 } else { 1 };
        let entry = Entry {
            name,
            mode,
            uid: 0,
            gid: 0,
            nlink,
            mtime,
            ino: 0,
            dev_major: 0,
            dev_minor: 0,
            rdev_major: 0,
            rdev_minor: 0,
            data,
        };
        let ino = self.fresh_ino();
        if let Err(e) = self.write(&entry, ino) {
            panic!("{e} ({name:?})");
        }
    }

    /// Adds `e` with all its fields except the inode number, which is reassigned (keeping entries
    /// with the same device and inode and nlink > 1 linked to each other).
    ///
    /// # Panics
    /// If the entry cannot be represented (see [`NewcWriter::try_add_entry`]).
    pub fn add_entry(&mut self, e: &Entry) {
        if let Err(err) = self.try_add_entry(e) {
            panic!("{err} ({:?})", e.name);
        }
    }

    /// [`NewcWriter::add_entry`], refusing with [`CpioError::Unrepresentable`] a name containing NUL,
    /// longer than [`MAX_NAME_SIZE`] - 1 bytes or equal to `TRAILER!!!`, and data of 4 GiB or more.
    pub fn try_add_entry(&mut self, e: &Entry) -> Result<(), CpioError> {
        check_representable(e)?;
        let ino = if e.nlink > 1 {
            let key = (e.dev_major, e.dev_minor, e.ino);
            match self.links.get(&key) {
                Some(&ino) => ino,
                None => {
                    let ino = self.fresh_ino();
                    self.links.insert(key, ino);
                    ino
                }
            }
        } else {
            self.fresh_ino()
        };
        self.write(e, ino)
    }

    /// Appends the trailer and pads the archive to a multiple of 512 bytes.
    pub fn finish(mut self) -> Vec<u8> {
        let trailer = Entry {
            name: TRAILER,
            mode: 0,
            uid: 0,
            gid: 0,
            nlink: 1,
            mtime: 0,
            ino: 0,
            dev_major: 0,
            dev_minor: 0,
            rdev_major: 0,
            rdev_minor: 0,
            data: &[],
        };
        self.write_unchecked(&trailer, 0);
        let padded = self.out.len().next_multiple_of(512);
        self.out.resize(padded, 0);
        self.out
    }

    fn fresh_ino(&mut self) -> u32 {
        // Inode 0 is left unused (the trailer has it). Wrapping after 4 billion members is moot.
        self.next_ino = self.next_ino.wrapping_add(1);
        self.next_ino
    }

    fn write(&mut self, e: &Entry, ino: u32) -> Result<(), CpioError> {
        check_representable(e)?;
        self.write_unchecked(e, ino);
        Ok(())
    }

    fn write_unchecked(&mut self, e: &Entry, ino: u32) {
        // Both lengths were checked to fit in u32 (the trailer's trivially does).
        let namesize = e.name.len() as u32 + 1;
        let filesize = e.data.len() as u32;
        self.out.extend_from_slice(MAGIC_NEWC);
        let fields = [
            ino,
            e.mode,
            e.uid,
            e.gid,
            e.nlink,
            e.mtime,
            filesize,
            e.dev_major,
            e.dev_minor,
            e.rdev_major,
            e.rdev_minor,
            namesize,
            0,
        ];
        for value in fields {
            for shift in (0..8).rev() {
                self.out
                    .push(b"0123456789ABCDEF"[(value >> (shift * 4)) as usize & 0xf]);
            }
        }
        self.out.extend_from_slice(e.name.as_bytes());
        self.out.push(0);
        self.pad4();
        self.out.extend_from_slice(e.data);
        self.pad4();
    }

    fn pad4(&mut self) {
        let padded = self.out.len().next_multiple_of(4);
        self.out.resize(padded, 0);
    }
}

fn check_representable(e: &Entry) -> Result<(), CpioError> {
    if e.name.contains('\0') {
        return Err(CpioError::Unrepresentable("name contains a NUL byte"));
    }
    if e.name.len() >= MAX_NAME_SIZE {
        return Err(CpioError::Unrepresentable("name longer than 4095 bytes"));
    }
    if e.name == TRAILER {
        return Err(CpioError::Unrepresentable(
            "the name TRAILER!!! marks the end of an archive",
        ));
    }
    if u32::try_from(e.data.len()).is_err() {
        return Err(CpioError::Unrepresentable("data of 4 GiB or more"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::String;
    use alloc::vec;

    fn list(archive: &[u8]) -> Result<Vec<Entry<'_>>, CpioError> {
        entries(archive).collect()
    }

    /// A small root filesystem with one of everything.
    fn sample() -> Vec<u8> {
        let mut w = NewcWriter::new();
        w.add(".", S_IFDIR | 0o755, 1_700_000_000, b"");
        w.add("bin", S_IFDIR | 0o755, 1_700_000_001, b"");
        w.add(
            "bin/busybox",
            S_IFREG | 0o755,
            1_700_000_002,
            b"\x7fELF busybox bytes",
        );
        w.add("bin/sh", S_IFLNK | 0o777, 1_700_000_003, b"busybox");
        w.add("etc", S_IFDIR | 0o700, 5, b"");
        w.add("etc/empty", S_IFREG | 0o600, 6, b"");
        w.add("etc/deep/er/name.conf", S_IFREG | 0o644, 7, b"abc");
        w.add("init", S_IFREG | 0o755, 8, b"#!/bin/sh\necho hello\n");
        w.finish()
    }

    /// A header written by hand (independently of NewcWriter) for the malformed-input tests.
    fn raw_header(magic: &str, fields: [u32; 13]) -> Vec<u8> {
        let mut h = String::from(magic);
        for f in fields {
            h += &format!("{f:08x}");
        }
        h.into_bytes()
    }

    fn raw_entry(magic: &str, name: &str, mode: u32, data: &[u8], check: u32) -> Vec<u8> {
        let mut out = raw_header(
            magic,
            [
                7,
                mode,
                0,
                0,
                1,
                0,
                data.len() as u32,
                0,
                0,
                0,
                0,
                name.len() as u32 + 1,
                check,
            ],
        );
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out.extend_from_slice(data);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out
    }

    fn trailer() -> Vec<u8> {
        raw_entry("070701", "TRAILER!!!", 0, b"", 0)
    }

    #[test]
    fn round_trip() {
        let archive = sample();
        assert_eq!(archive.len() % 512, 0);
        let got = list(&archive).unwrap();
        let summary: Vec<(&str, u32, u32, u32, &[u8])> = got
            .iter()
            .map(|e| (e.name, e.mode, e.mtime, e.nlink, e.data))
            .collect();
        assert_eq!(
            summary,
            vec![
                (".", S_IFDIR | 0o755, 1_700_000_000, 2, &b""[..]),
                ("bin", S_IFDIR | 0o755, 1_700_000_001, 2, b""),
                (
                    "bin/busybox",
                    S_IFREG | 0o755,
                    1_700_000_002,
                    1,
                    b"\x7fELF busybox bytes"
                ),
                ("bin/sh", S_IFLNK | 0o777, 1_700_000_003, 1, b"busybox"),
                ("etc", S_IFDIR | 0o700, 5, 2, b""),
                ("etc/empty", S_IFREG | 0o600, 6, 1, b""),
                ("etc/deep/er/name.conf", S_IFREG | 0o644, 7, 1, b"abc"),
                ("init", S_IFREG | 0o755, 8, 1, b"#!/bin/sh\necho hello\n"),
            ]
        );
        let mut inodes: Vec<u32> = got.iter().map(|e| e.ino).collect();
        inodes.sort();
        inodes.dedup();
        assert_eq!(inodes.len(), got.len(), "inode numbers are unique");
        assert!(got.iter().all(|e| e.ino != 0 && e.uid == 0 && e.gid == 0));
        assert_eq!(got[3].file_type(), S_IFLNK);
    }

    #[test]
    fn writer_output_is_byte_exact() {
        let mut w = NewcWriter::new();
        w.add("a", S_IFREG | 0o644, 0x10, b"xyz");
        let archive = w.finish();
        // The writer uses upper-case hex (like GNU cpio); the reader accepts both.
        let header = |fields| raw_header("070701", fields).to_ascii_uppercase();
        let mut expected = header([1, 0o100644, 0, 0, 1, 0x10, 3, 0, 0, 0, 0, 2, 0]);
        expected.extend_from_slice(b"a\0xyz\0");
        expected.extend_from_slice(&header([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 11, 0]));
        expected.extend_from_slice(b"TRAILER!!!\0\0");
        expected.resize(512, 0);
        assert_eq!(archive, expected);
    }

    #[test]
    fn add_entry_copies_fields_and_keeps_hard_links() {
        let source = {
            let mut w = NewcWriter::new();
            w.add("x", S_IFREG | 0o644, 1, b"x");
            w.finish()
        };
        let x = list(&source).unwrap()[0];
        let dev = Entry {
            name: "dev/console",
            mode: S_IFCHR | 0o600,
            rdev_major: 5,
            rdev_minor: 1,
            uid: 3,
            gid: 4,
            ..x
        };
        let link1 = Entry {
            name: "a",
            ino: 99,
            nlink: 2,
            data: b"",
            ..x
        };
        let link2 = Entry {
            name: "b",
            ino: 99,
            nlink: 2,
            data: b"shared",
            ..x
        };
        let other = Entry {
            name: "c",
            ino: 99,
            nlink: 2,
            dev_minor: 1,
            ..x
        };
        let mut w = NewcWriter::new();
        w.add("first", S_IFREG, 0, b"");
        for e in [&dev, &link1, &link2, &other] {
            w.add_entry(e);
        }
        let archive = w.finish();
        let got = list(&archive).unwrap();
        assert_eq!(
            got[1],
            Entry {
                ino: got[1].ino,
                ..dev
            }
        );
        assert_eq!(got[2].ino, got[3].ino, "hard links share an inode");
        assert_ne!(
            got[2].ino, got[4].ino,
            "same ino on another device is another file"
        );
        assert_ne!(got[0].ino, got[2].ino);
        assert_eq!((got[3].nlink, got[3].data), (2, &b"shared"[..]));
    }

    #[test]
    fn writer_refuses_unrepresentable_entries() {
        let base = Entry {
            name: "ok",
            mode: S_IFREG,
            uid: 0,
            gid: 0,
            nlink: 1,
            mtime: 0,
            ino: 0,
            dev_major: 0,
            dev_minor: 0,
            rdev_major: 0,
            rdev_minor: 0,
            data: b"",
        };
        let long = "n".repeat(MAX_NAME_SIZE);
        let mut w = NewcWriter::new();
        for name in ["a\0b", long.as_str(), "TRAILER!!!"] {
            assert!(matches!(
                w.try_add_entry(&Entry { name, ..base }),
                Err(CpioError::Unrepresentable(_))
            ));
        }
        // Nothing was written by the refusals; the longest allowed name works and reads back.
        w.try_add_entry(&Entry {
            name: &long[1..],
            ..base
        })
        .unwrap();
        let archive = w.finish();
        assert_eq!(list(&archive).unwrap()[0].name.len(), MAX_NAME_SIZE - 1);
    }

    #[test]
    #[should_panic(expected = "name contains a NUL byte")]
    fn add_panics_on_unrepresentable_names() {
        NewcWriter::new().add("a\0", S_IFREG, 0, b"");
    }

    #[test]
    fn find_normalises_paths() {
        let archive = sample();
        for path in ["/init", "init", "./init", "//init", "/./init"] {
            let e = find(&archive, path).unwrap().unwrap();
            assert_eq!(e.data, b"#!/bin/sh\necho hello\n", "{path}");
        }
        assert_eq!(find(&archive, "/bin/sh").unwrap().unwrap().data, b"busybox");
        assert_eq!(find(&archive, "/bin/").unwrap().unwrap().name, "bin");
        assert_eq!(find(&archive, "/").unwrap().unwrap().name, ".");
        assert_eq!(
            find(&archive, "/etc/deep/er/name.conf")
                .unwrap()
                .unwrap()
                .data,
            b"abc"
        );
        assert_eq!(find(&archive, "/missing").unwrap(), None);
        assert_eq!(find(&archive, "/ini").unwrap(), None);

        // Names stored with "./" are found too, and the last duplicate wins.
        let mut w = NewcWriter::new();
        w.add("./init", S_IFREG | 0o755, 0, b"old");
        w.add("./init", S_IFREG | 0o755, 0, b"new");
        let archive = w.finish();
        assert_eq!(find(&archive, "/init").unwrap().unwrap().data, b"new");
    }

    #[test]
    fn find_resolves_hard_link_data() {
        // As GNU cpio writes a link group: the data travels with the last name only.
        let file = |name, ino, data| Entry {
            name,
            mode: S_IFREG | 0o644,
            uid: 0,
            gid: 0,
            nlink: 2,
            mtime: 0,
            ino,
            dev_major: 8,
            dev_minor: 1,
            rdev_major: 0,
            rdev_minor: 0,
            data,
        };
        let mut w = NewcWriter::new();
        w.add_entry(&file("a", 5, b""));
        w.add_entry(&file("other", 6, b"")); // another group, no data anywhere
        w.add_entry(&file("b", 5, b"shared"));
        let archive = w.finish();
        assert_eq!(find(&archive, "a").unwrap().unwrap().data, b"shared");
        assert_eq!(find(&archive, "b").unwrap().unwrap().data, b"shared");
        assert_eq!(find(&archive, "other").unwrap().unwrap().data, b"");
        // entries() reports the members as stored.
        assert_eq!(list(&archive).unwrap()[0].data, b"");
    }

    #[test]
    fn find_reports_a_corrupt_archive() {
        let archive = sample();
        assert!(find(&archive[..archive.len() / 2], "/init").is_err());
        assert!(find(b"garbage", "/init").is_err());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let archive = sample();
        // The trailer's padded name ends the meaningful bytes; after it only the 512 padding.
        let trailer_end = archive.len() - archive.iter().rev().take_while(|&&b| b == 0).count();
        // ... plus the name's NUL, padded to 4.
        let trailer_end = (trailer_end + 1).next_multiple_of(4);
        let full = list(&archive).unwrap();
        for len in 0..archive.len() {
            let result = list(&archive[..len]);
            if len < trailer_end {
                let err = result.expect_err("a cut archive must not list cleanly");
                assert!(
                    err.to_string().contains("truncated archive"),
                    "len {len}: {err}"
                );
            } else {
                assert_eq!(
                    result.unwrap(),
                    full,
                    "len {len}: only zero padding was cut"
                );
            }
            // The iterator ends after its error.
            let mut it = entries(&archive[..len]);
            while let Some(Ok(_)) = it.next() {}
            assert!(it.next().is_none());
        }
        assert_eq!(list(b""), Err(CpioError::MissingTrailer));
    }

    #[test]
    fn concatenated_archives_with_zero_padding() {
        let mut first = NewcWriter::new();
        first.add("init", S_IFREG | 0o755, 0, b"one");
        let mut second = NewcWriter::new();
        second.add("etc/x", S_IFREG, 0, b"two");
        second.add("init", S_IFREG | 0o755, 0, b"three");
        let mut archive = first.finish();
        archive.extend_from_slice(&[0; 64]);
        archive.extend_from_slice(&second.finish());
        let names: Vec<&str> = list(&archive).unwrap().iter().map(|e| e.name).collect();
        assert_eq!(names, vec!["init", "etc/x", "init"]);
        assert_eq!(find(&archive, "init").unwrap().unwrap().data, b"three");

        // Without any padding (writer's trailer ends 4-aligned) it also works.
        let mut raw = raw_entry("070701", "a", S_IFREG, b"1", 0);
        raw.extend(trailer());
        raw.extend(raw_entry("070701", "b", S_IFREG, b"2", 0));
        raw.extend(trailer());
        let names: Vec<&str> = list(&raw).unwrap().iter().map(|e| e.name).collect();
        assert_eq!(names, vec!["a", "b"]);

        // A second archive must start on a 4-byte boundary, as in Linux.
        let mut bad = raw_entry("070701", "a", S_IFREG, b"1", 0);
        bad.extend(trailer());
        bad.extend([0, 0]);
        let start = bad.len();
        bad.extend(raw_entry("070701", "b", S_IFREG, b"2", 0));
        bad.extend(trailer());
        assert_eq!(list(&bad), Err(CpioError::BrokenPadding { offset: start }));
        // Junk after a trailer is not another archive.
        let mut junk = raw_entry("070701", "a", S_IFREG, b"1", 0);
        junk.extend(trailer());
        junk.extend([b'j'; 200]);
        assert!(matches!(list(&junk), Err(CpioError::BadMagic { .. })));
    }

    #[test]
    fn bad_magic() {
        for magic in ["070707", "070700", "0707O1", "\0\0\0\0\0\0"] {
            let mut a = raw_entry(magic, "x", S_IFREG, b"", 0);
            a.extend(trailer());
            assert_eq!(
                list(&a),
                Err(CpioError::BadMagic { offset: 0 }),
                "{magic:?}"
            );
        }
        assert!(
            CpioError::BadMagic { offset: 0 }
                .to_string()
                .contains("bad cpio magic")
        );
    }

    #[test]
    fn bad_hex_digits() {
        let good = raw_entry("070701", "x", S_IFREG, b"", 0);
        for (field, bad) in [(0, b'g'), (1, b' '), (6, b'-'), (11, b'x'), (12, 0u8)] {
            let mut a = good.clone();
            a[6 + 8 * field + 3] = bad;
            a.extend(trailer());
            assert_eq!(
                list(&a),
                Err(CpioError::BadHex {
                    offset: 0,
                    field: FIELDS[field]
                })
            );
        }
        // Upper and lower case both parse.
        let mut upper = raw_header(
            "070701",
            [0xABCDEF01, S_IFREG, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, 0],
        );
        upper.make_ascii_uppercase();
        upper.extend(b"x\0"); // 110 + 2: already 4-aligned
        upper.extend(trailer());
        assert_eq!(list(&upper).unwrap()[0].ino, 0xABCDEF01);
    }

    #[test]
    fn bad_names() {
        // namesize 0 and namesize beyond PATH_MAX.
        for size in [0, MAX_NAME_SIZE as u32 + 1, u32::MAX] {
            let mut a = raw_header("070701", [1, S_IFREG, 0, 0, 1, 0, 0, 0, 0, 0, 0, size, 0]);
            a.extend(b"x\0\0\0");
            a.extend(trailer());
            assert_eq!(list(&a), Err(CpioError::BadNameSize { offset: 0, size }));
        }
        // Name without its NUL (namesize 2 but "xy"), and with an interior NUL.
        for name in [&b"xy\0\0"[..], b"x\0y\0"] {
            let size = if name[1] == 0 { 4 } else { 2 };
            let mut a = raw_header("070701", [1, S_IFREG, 0, 0, 1, 0, 0, 0, 0, 0, 0, size, 0]);
            a.extend(name);
            a.extend([0; 2]);
            a.extend(trailer());
            assert_eq!(list(&a), Err(CpioError::BadName { offset: 0 }), "{name:?}");
        }
        // Not UTF-8.
        let mut a = raw_header("070701", [1, S_IFREG, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, 0]);
        a.extend(b"\xff\0\0\0");
        a.extend(trailer());
        assert_eq!(list(&a), Err(CpioError::NameNotUtf8 { offset: 0 }));
        // A name that runs past the end of the buffer.
        let mut a = raw_header("070701", [1, S_IFREG, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4000, 0]);
        a.extend(b"x\0");
        assert_eq!(list(&a), Err(CpioError::NameBeyondEnd { offset: 0 }));
    }

    #[test]
    fn sizes_beyond_the_end() {
        let second = raw_entry("070701", "first", S_IFREG, b"1234", 0).len();
        for size in [1000, 0x7fff_ffff, u32::MAX] {
            let mut a = raw_entry("070701", "first", S_IFREG, b"1234", 0);
            let mut h = raw_header("070701", [2, S_IFREG, 0, 0, 1, 0, size, 0, 0, 0, 0, 2, 0]);
            h.extend(b"y\0\0\0abcd");
            a.extend(h);
            a.extend(trailer());
            let mut it = entries(&a);
            assert_eq!(it.next().unwrap().unwrap().data, b"1234");
            let err = it.next().unwrap().unwrap_err();
            assert_eq!(
                err,
                CpioError::DataBeyondEnd {
                    offset: second,
                    size
                }
            );
            assert!(err.to_string().starts_with("truncated archive"));
            assert!(it.next().is_none());
        }
    }

    #[test]
    fn crc_format_checksums() {
        let data = b"checksummed \xff\xfe data";
        let sum = data.iter().map(|&b| u32::from(b)).sum::<u32>();
        let mut good = raw_entry("070702", "f", S_IFREG | 0o644, data, sum);
        // Non-regular files carry no checksum (GNU cpio writes 0 for symlinks).
        good.extend(raw_entry("070702", "l", S_IFLNK | 0o777, b"f", 0));
        good.extend(raw_entry("070702", "TRAILER!!!", 0, b"", 0));
        let got = list(&good).unwrap();
        assert_eq!((got[0].data, got[1].data), (&data[..], &b"f"[..]));

        let mut bad = raw_entry("070702", "f", S_IFREG | 0o644, data, sum + 1);
        bad.extend(trailer());
        assert_eq!(
            list(&bad),
            Err(CpioError::ChecksumMismatch {
                offset: 0,
                expected: sum + 1,
                actual: sum
            })
        );
        // In plain newc the check field is ignored.
        let mut newc = raw_entry("070701", "f", S_IFREG | 0o644, data, 12345);
        newc.extend(trailer());
        assert!(list(&newc).is_ok());
    }

    #[test]
    fn random_mutations_never_panic() {
        let archive = sample();
        let mut state = 0x1234_5678_9abc_def1u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..4000 {
            let mut a = archive.clone();
            for _ in 0..1 + next() % 3 {
                let at = (next() % a.len() as u64) as usize;
                a[at] = match next() % 3 {
                    0 => b"0123456789abcdefF"[(next() % 17) as usize],
                    1 => next() as u8,
                    _ => 0,
                };
            }
            for e in entries(&a).flatten() {
                // Whatever is yielded lies inside the buffer.
                let range = a.as_ptr_range();
                assert!(range.contains(&e.data.as_ptr()) || e.data.is_empty());
            }
            let _ = find(&a, "/init");
        }
    }
}

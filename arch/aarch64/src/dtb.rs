//! What the boot path needs from the flattened device tree: RAM (`/memory` nodes), memory the
//! firmware keeps (`/reserved-memory`, the memreserve block) and `/chosen` (bootargs, initrd).
//! Device discovery is the board's business, not this module's.
//!
//! The `fdt` crate (0.1.5) trusts its input: it slices blocks and property values at offsets
//! read from the file, `expect`s NUL-terminated UTF-8 names, asserts on NOP tokens inside nodes
//! it skips, keeps a fixed 64-entry parent stack, and resolves aliases recursively without a
//! bound. [`parse`] therefore checks the bytes first ([`check`]): the header and block bounds,
//! the whole token stream, and, replaying fdt's own lookup algorithm, every lookup by path the
//! kernel will make. Only then does fdt see the tree, so a malformed tree is an error value, not
//! a panic or a stack overflow during boot.

use crate::memmap::MemoryFacts;
use fdt::Fdt;
use hal::boot::{MemoryKind, PhysRange};

/// The boot-relevant `/chosen` facts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chosen<'a> {
    /// `bootargs` without its terminating NUL (empty if absent).
    pub bootargs: &'a [u8],
    /// `[linux,initrd-start, linux,initrd-end)`, if both are present and well-ordered.
    pub initrd: Option<PhysRange>,
}

/// Why a DTB could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtbError {
    /// Bad magic or truncated.
    Invalid,
    /// No usable `/memory` range.
    NoMemory,
}

/// The total size a DTB header claims, after checking its magic; `None` if `header` is not the
/// start of a DTB. Used to know how much to map before parsing.
pub fn total_size(header: &[u8]) -> Option<usize> {
    let magic = u32::from_be_bytes(header.get(0..4)?.try_into().ok()?);
    let size = u32::from_be_bytes(header.get(4..8)?.try_into().ok()?);
    (magic == 0xd00d_feed && size >= 40).then_some(size as usize)
}

/// Checks `bytes` (see [`check`]) for the boot path's own lookups and hands them to fdt.
pub fn parse(bytes: &[u8]) -> Result<Fdt<'_>, DtbError> {
    parse_for(bytes, Lookups::default())
}

/// [`parse`] for a tree on which kernel code will also make the `lookups`.
pub fn parse_for<'a>(bytes: &'a [u8], lookups: Lookups<'_>) -> Result<Fdt<'a>, DtbError> {
    check(bytes, lookups)?;
    Fdt::new(bytes).map_err(|_| DtbError::Invalid)
}

/// Lookups by path that code other than this module makes with `Fdt::find_node` on a tree.
/// `fdt` 0.1.5 can panic in a lookup even on a tree that is otherwise sound (a NOP run inside a
/// node the search steps over, an alias naming itself), and whether it does depends on the
/// path, so each user names its paths and [`check`] replays those lookups.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lookups<'p> {
    /// Paths given to `Fdt::find_node`; the found node's properties and its parent's (for
    /// `#address-cells`) are read.
    pub paths: &'p [&'p str],
    /// `/chosen/stdout-path` (up to a `:`) is looked up as `drivers::devicetree::stdout_node`
    /// does, and the node it names read, `reg` included.
    pub stdout_path: bool,
}

/// Deepest node nesting accepted (the root is depth 1). fdt 0.1.5 tracks at most 63 ancestors
/// and recurses once per level; real trees nest 4 to 6 deep.
pub const MAX_DEPTH: usize = 16;

/// Alias hops followed when replaying fdt's alias fallback: a found path needs one; fdt itself
/// follows a chain (or a loop) without limit.
const MAX_ALIAS_HOPS: usize = 4;

const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

/// Checks that fdt 0.1.5 can be given `bytes` and used the way the kernel uses it without
/// panicking or recursing without bound:
/// - the header's magic and sizes, the structure and strings blocks and the memory reservation
///   block inside `totalsize`, itself inside `bytes`;
/// - the token stream: one root node with an empty name, nodes nested at most [`MAX_DEPTH`]
///   deep and balanced, properties before child nodes, NUL-terminated UTF-8 node names,
///   properties whose values lie inside the structure block and whose names are NUL-terminated
///   UTF-8 strings inside the strings block, `#address-cells`/`#size-cells` of at least 4 bytes,
///   NOP tokens anywhere between tokens, then `FDT_END`;
/// - the lookups: `/chosen` and `/reserved-memory` (whose children are walked), plus `lookups`,
///   replayed step for step as fdt's `find_node` performs them (alias fallback included), with
///   every check fdt skips made, and the properties the kernel reads from what they find.
pub fn check(bytes: &[u8], lookups: Lookups<'_>) -> Result<(), DtbError> {
    let tree = Blocks::new(bytes)?;
    tree.structure()?;
    for path in ["/chosen", "/reserved-memory"].iter().chain(lookups.paths) {
        if let Some((props, parent)) = tree.lookup(path, 0)? {
            tree.read_node(props, parent)?;
            if *path == "/reserved-memory" {
                tree.children(props)?;
            }
        }
    }
    if lookups.stdout_path
        && let Some((chosen, _)) = tree.lookup("/chosen", 0)?
        && let Some(value) = tree.property(chosen, Some("stdout-path"))?
        && let Ok(path) = core::str::from_utf8(value)
    {
        let path = path.trim_end_matches('\0').split(':').next().unwrap_or("");
        if let Some((props, parent)) = tree.lookup(path, 0)? {
            tree.read_node(props, parent)?;
        }
    }
    Ok(())
}

/// The two blocks fdt reads nodes from, after the header check. Offsets below are into
/// `structs`; an offset past its end reads as the end, as fdt's stream does.
struct Blocks<'a> {
    structs: &'a [u8],
    strings: &'a [u8],
}

const fn align4(x: usize) -> usize {
    (x + 3) & !3
}

impl<'a> Blocks<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, DtbError> {
        let total = total_size(bytes).ok_or(DtbError::Invalid)?;
        if total > bytes.len() {
            return Err(DtbError::Invalid);
        }
        // total >= 40: the ten header words are there.
        let word = |i: usize| {
            let at = 4 * i;
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
        };
        let block = |offset: usize, size: usize| {
            offset
                .checked_add(size)
                .filter(|&end| end <= total)
                .map(|end| &bytes[offset..end])
                .ok_or(DtbError::Invalid)
        };
        // fdt slices from the reservation block's offset to the end of the buffer.
        if word(4) > total {
            return Err(DtbError::Invalid);
        }
        Ok(Blocks {
            structs: block(word(2), word(9))?,
            strings: block(word(3), word(8))?,
        })
    }

    fn word(&self, at: usize) -> Option<u32> {
        let b = self.structs.get(at..at.checked_add(4)?)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn skip_nops(&self, mut at: usize) -> usize {
        while self.word(at) == Some(FDT_NOP) {
            at += 4;
        }
        at
    }

    /// The NUL-terminated name at `at`; `Err` where fdt `expect`s a NUL. The inner result is
    /// `Err` for a name that is not UTF-8 (some fdt paths `unwrap` that, others give up).
    fn name(&self, at: usize) -> Result<Result<(&'a str, usize), ()>, DtbError> {
        let rest = self.structs.get(at..).unwrap_or(&[]);
        let len = rest.iter().position(|&b| b == 0).ok_or(DtbError::Invalid)?;
        Ok(core::str::from_utf8(&rest[..len])
            .map(|name| (name, at + align4(len + 1)))
            .map_err(|_| ()))
    }

    /// The property whose `FDT_PROP` token is at `at`: name, value and the offset after it.
    fn prop(&self, at: usize) -> Result<(&'a str, &'a [u8], usize), DtbError> {
        let invalid = DtbError::Invalid;
        if self.word(at) != Some(FDT_PROP) {
            return Err(invalid);
        }
        let len = self.word(at + 4).ok_or(invalid)? as usize;
        let name_offset = self.word(at + 8).ok_or(invalid)? as usize;
        let start = at + 12;
        let value = start
            .checked_add(len)
            .and_then(|end| self.structs.get(start..end))
            .ok_or(invalid)?;
        let names = self.strings.get(name_offset..).ok_or(invalid)?;
        let name_len = names.iter().position(|&b| b == 0).ok_or(invalid)?;
        let name = core::str::from_utf8(&names[..name_len]).map_err(|_| invalid)?;
        // fdt `expect`s four bytes when it reads these for a child's `reg`.
        if (name == "#address-cells" || name == "#size-cells") && value.len() < 4 {
            return Err(invalid);
        }
        Ok((name, value, start + align4(len)))
    }

    /// The token stream, following the specification (and stricter where fdt needs it).
    fn structure(&self) -> Result<(), DtbError> {
        let at = self.skip_nops(0);
        if self.word(at) != Some(FDT_BEGIN_NODE) {
            return Err(DtbError::Invalid);
        }
        // fdt finds "/" only under an empty root name.
        match self.name(at + 4)? {
            Ok(("", _)) => {}
            _ => return Err(DtbError::Invalid),
        }
        let end = self.skip_nops(self.node(at, 1)?);
        if self.word(end) != Some(FDT_END) {
            return Err(DtbError::Invalid);
        }
        Ok(())
    }

    /// One node from its `FDT_BEGIN_NODE` at `at`; returns the offset after its `FDT_END_NODE`.
    fn node(&self, at: usize, depth: usize) -> Result<usize, DtbError> {
        if depth > MAX_DEPTH {
            return Err(DtbError::Invalid);
        }
        let (_, mut at) = self.name(at + 4)?.map_err(|()| DtbError::Invalid)?;
        let mut children = false;
        loop {
            match self.word(at) {
                Some(FDT_NOP) => at += 4,
                Some(FDT_PROP) if !children => at = self.prop(at)?.2,
                Some(FDT_BEGIN_NODE) => {
                    children = true;
                    at = self.node(at, depth + 1)?;
                }
                Some(FDT_END_NODE) => return Ok(at + 4),
                _ => return Err(DtbError::Invalid),
            }
        }
    }

    /// fdt's `skip_current_node` from `at`, which asserts or unwraps where this is `Err`.
    fn skip_node(&self, at: usize, depth: usize) -> Result<usize, DtbError> {
        let invalid = DtbError::Invalid;
        if depth > MAX_DEPTH || self.word(at) != Some(FDT_BEGIN_NODE) {
            return Err(invalid);
        }
        let (_, mut at) = self.name(at + 4)?.map_err(|()| invalid)?;
        while self.word(at).ok_or(invalid)? == FDT_PROP {
            at = self.prop(at)?.2;
        }
        while self.word(at).ok_or(invalid)? == FDT_BEGIN_NODE {
            at = self.skip_node(at, depth + 1)?;
        }
        at = self.skip_nops(at);
        if self.word(at) != Some(FDT_END_NODE) {
            return Err(invalid);
        }
        Ok(at + 4)
    }

    /// fdt's `node::find_node(stream, path, parent_props)` with the stream at `*at`: the found
    /// node's property offset and its parent's, `None` where fdt returns `None` (leaving `*at`
    /// where fdt leaves its stream, which the caller's loop goes on from), `Err` where it panics.
    fn find(
        &self,
        at: &mut usize,
        path: &str,
        parent_props: Option<usize>,
        depth: usize,
    ) -> Result<Option<(usize, Option<usize>)>, DtbError> {
        if depth > MAX_DEPTH {
            return Err(DtbError::Invalid);
        }
        let mut parts = path.splitn(2, '/');
        let looking_for = parts.next().unwrap_or("");
        *at = self.skip_nops(*at);
        let start = *at;
        match self.word(*at) {
            None => return Ok(None),
            Some(token) => {
                *at += 4;
                if token != FDT_BEGIN_NODE {
                    return Ok(None);
                }
            }
        }
        let Ok((name, props)) = self.name(*at)? else {
            return Ok(None);
        };
        *at = props;
        let matches = if looking_for.contains('@') {
            name == looking_for
        } else {
            name.split('@').next() == Some(looking_for)
        };
        if !matches {
            *at = self.skip_node(start, depth)?;
            return Ok(None);
        }
        let next = match parts.next() {
            None | Some("") => return Ok(Some((props, parent_props))),
            Some(next) => next,
        };
        *at = self.skip_nops(*at);
        let own_props = Some(*at);
        loop {
            match self.word(*at) {
                None => return Ok(None),
                Some(FDT_PROP) => *at = self.prop(*at)?.2,
                Some(_) => break,
            }
        }
        loop {
            match self.word(*at) {
                None => return Ok(None),
                Some(FDT_BEGIN_NODE) => {
                    if let Some(found) = self.find(at, next, own_props, depth + 1)? {
                        return Ok(Some(found));
                    }
                }
                Some(_) => break,
            }
        }
        // fdt reads one more word (expecting FDT_END_NODE) and returns None either way.
        *at = self.skip_nops(*at);
        if self.word(*at).is_some() {
            *at += 4;
        }
        Ok(None)
    }

    /// fdt's `Fdt::find_node(path)`: the search from the root, then, failing that, the value of
    /// the `/aliases` property named `path`, looked up the same way.
    fn lookup(&self, path: &str, hops: usize) -> Result<Option<(usize, Option<usize>)>, DtbError> {
        if let Some(found) = self.find(&mut 0, path, None, 1)? {
            return Ok(Some(found));
        }
        let Some((aliases, _)) = self.find(&mut 0, "/aliases", None, 1)? else {
            return Ok(None);
        };
        let Some(value) = self.property(aliases, Some(path))? else {
            return Ok(None);
        };
        let Ok(target) = core::str::from_utf8(value) else {
            return Ok(None);
        };
        if hops == MAX_ALIAS_HOPS {
            return Err(DtbError::Invalid);
        }
        self.lookup(target.trim_end_matches('\0'), hops + 1)
    }

    /// fdt's `property(name)` on the node whose properties start at `at`; with `None`, its
    /// `properties()` read to the end.
    fn property(&self, mut at: usize, name: Option<&str>) -> Result<Option<&'a [u8]>, DtbError> {
        loop {
            match self.word(at) {
                Some(FDT_NOP) => at += 4,
                Some(FDT_PROP) => {
                    let (n, value, next) = self.prop(at)?;
                    if Some(n) == name {
                        return Ok(Some(value));
                    }
                    at = next;
                }
                _ => return Ok(None),
            }
        }
    }

    /// Every property of a found node, and of its parent (read for `#address-cells`), as
    /// `properties()`, `compatible()` and `reg()` iterate them.
    fn read_node(&self, props: usize, parent: Option<usize>) -> Result<(), DtbError> {
        for at in core::iter::once(props).chain(parent) {
            self.property(at, None)?;
        }
        Ok(())
    }

    /// fdt's `children()` of the node whose properties start at `at`, each child's properties
    /// read (`status`, `reg`).
    fn children(&self, mut at: usize) -> Result<(), DtbError> {
        let invalid = DtbError::Invalid;
        while self.word(at).ok_or(invalid)? == FDT_NOP {
            at += 4;
        }
        while self.word(at).ok_or(invalid)? == FDT_PROP {
            at = self.prop(at)?.2;
        }
        loop {
            at = self.skip_nops(at);
            if self.word(at) != Some(FDT_BEGIN_NODE) {
                return Ok(());
            }
            let Ok((_, props)) = self.name(at + 4)? else {
                return Ok(());
            };
            self.property(props, None)?;
            at = self.skip_node(at, 2)?;
        }
    }
}

fn disabled(node: &fdt::node::FdtNode<'_, '_>) -> bool {
    node.property("status")
        .and_then(|p| p.as_str())
        .is_some_and(|s| s != "okay" && s != "ok")
}

/// Adds every `/memory` range as RAM and every firmware reservation as `Reserved` to `facts`.
pub fn collect_memory(fdt: &Fdt<'_>, facts: &mut MemoryFacts) -> Result<(), DtbError> {
    let before = facts.ram.len();
    for node in fdt.all_nodes() {
        let is_memory_name = node.name == "memory" || node.name.starts_with("memory@");
        let device_type = node.property("device_type").and_then(|p| p.as_str());
        if !is_memory_name || device_type.is_some_and(|t| t != "memory") || disabled(&node) {
            continue;
        }
        for reg in node.reg().into_iter().flatten() {
            if let Some(size) = reg.size {
                facts.add_ram(PhysRange::new(reg.starting_address as u64, size as u64));
            }
        }
    }
    if facts.ram.len() == before {
        return Err(DtbError::NoMemory);
    }

    if let Some(reserved) = fdt.find_node("/reserved-memory") {
        for child in reserved.children() {
            if disabled(&child) {
                continue;
            }
            // Dynamically placed reservations (size + alloc-ranges, no reg) are left to whoever
            // would allocate them; there is no such user in this kernel.
            for reg in child.reg().into_iter().flatten() {
                if let Some(size) = reg.size {
                    facts.add_hole(
                        PhysRange::new(reg.starting_address as u64, size as u64),
                        MemoryKind::Reserved,
                    );
                }
            }
        }
    }
    for r in fdt.memory_reservations() {
        facts.add_hole(
            PhysRange::new(r.address() as u64, r.size() as u64),
            MemoryKind::Reserved,
        );
    }
    Ok(())
}

/// Reads `/chosen`. A missing node means no arguments and no initrd.
pub fn chosen<'a>(fdt: &Fdt<'a>) -> Chosen<'a> {
    let Some(node) = fdt.find_node("/chosen") else {
        return Chosen::default();
    };
    let bootargs = node.property("bootargs").map(|p| p.value).unwrap_or(&[]);
    let bootargs = bootargs.split(|&b| b == 0).next().unwrap_or(&[]);
    let start = node
        .property("linux,initrd-start")
        .and_then(|p| p.as_usize());
    let end = node.property("linux,initrd-end").and_then(|p| p.as_usize());
    let initrd = match (start, end) {
        (Some(s), Some(e)) if e > s => Some(PhysRange::new(s as u64, (e - s) as u64)),
        _ => None,
    };
    Chosen { bootargs, initrd }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `qemu-system-aarch64 -machine virt,dumpdtb=... -cpu cortex-a72 -m 512M
    /// -append "init=/bin/x -- a b" -initrd <6-byte file>`, padding trimmed.
    const VIRT_512M: &[u8] = include_bytes!("../testdata/qemu-virt-512m.dtb");
    /// The same with `-machine virt,gic-version=3 -m 2G` and no initrd or arguments.
    const VIRT_2G: &[u8] = include_bytes!("../testdata/qemu-virt-gicv3-2g.dtb");

    #[test]
    fn header_size() {
        assert_eq!(total_size(VIRT_512M), Some(VIRT_512M.len()));
        assert_eq!(total_size(&[0u8; 8]), None);
        assert_eq!(total_size(&[0xd0, 0x0d]), None);
    }

    #[test]
    fn qemu_virt_memory_and_chosen() {
        let fdt = parse(VIRT_512M).unwrap();
        let mut facts = MemoryFacts::default();
        collect_memory(&fdt, &mut facts).unwrap();
        assert_eq!(
            facts.ram.iter().collect::<Vec<_>>(),
            vec![PhysRange::new(0x4000_0000, 512 << 20)]
        );
        let c = chosen(&fdt);
        assert_eq!(c.bootargs, b"init=/bin/x -- a b");
        let initrd = c.initrd.unwrap();
        assert_eq!(initrd.len, 6);
        assert!(initrd.start >= 0x4000_0000);
    }

    #[test]
    fn qemu_virt_2g_without_chosen_extras() {
        let fdt = parse(VIRT_2G).unwrap();
        let mut facts = MemoryFacts::default();
        collect_memory(&fdt, &mut facts).unwrap();
        assert_eq!(
            facts.ram.iter().collect::<Vec<_>>(),
            vec![PhysRange::new(0x4000_0000, 2 << 30)]
        );
        assert_eq!(chosen(&fdt), Chosen::default());
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(parse(&[0u8; 64]).err(), Some(DtbError::Invalid));
        let mut truncated = VIRT_512M.to_vec();
        truncated.truncate(100);
        assert_eq!(parse(&truncated).err(), Some(DtbError::Invalid));
    }
}
